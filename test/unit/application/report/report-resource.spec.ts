import { filesExpired } from '../../../../src/application/report/report-resource.js';
import { initialState, type Report } from '../../../../src/domain/report/report.decider.js';

const ready = (change: Partial<Report>): Report => ({ ...initialState(), status: 'ready', ...change });
const at = Date.parse('2026-03-01T12:00:00.000Z');

describe('filesExpired', () => {
  it('is false before retainedUntil and true from it on, deleted or not yet', () => {
    const report = ready({ retainedUntil: '2026-03-01T12:00:00.000Z' });
    expect(filesExpired(report, at - 1)).toBe(false);
    expect(filesExpired(report, at)).toBe(true);
  });

  it('is true once the files were deleted', () =>
    expect(filesExpired(ready({ filesExpiredAt: '2026-03-01T12:00:00.000Z' }), at - 60_000)).toBe(true));

  it('is false for a state the read model stored before retention existed (neither field)', () => {
    const { retainedUntil: _r, filesExpiredAt: _f, ...old } = ready({});
    expect(filesExpired(old as Report, at)).toBe(false);
  });
});
