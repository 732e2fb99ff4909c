import { assertMemberMayRequest } from '../../../../src/application/report/report-access.js';

describe('who may request a report on which tax ID (members)', () => {
  const expectCode = (run: () => void, code: string) => {
    let thrown: unknown;
    try {
      run();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code });
  };

  it('given their own verified tax ID, when a member asks, then it is allowed', () => {
    expect(() => assertMemberMayRequest({ taxId: 'A-1', taxIdVerified: true }, 'A-1')).not.toThrow();
  });

  it('given their own tax ID typed at sign-up (unverified), when a member asks, then 403 tax_id_unverified', () => {
    expectCode(
      () => assertMemberMayRequest({ taxId: 'A-1', taxIdVerified: false }, 'A-1'),
      'tax_id_unverified',
    );
  });

  it("given someone else's tax ID, when a member asks, then 403 subject_forbidden, verified or not", () => {
    expectCode(
      () => assertMemberMayRequest({ taxId: 'A-1', taxIdVerified: true }, 'B-2'),
      'subject_forbidden',
    );
    expectCode(
      () => assertMemberMayRequest({ taxId: null, taxIdVerified: false }, 'B-2'),
      'subject_forbidden',
    );
  });
});
