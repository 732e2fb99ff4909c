import { randomBytes } from 'node:crypto';
import { type TestApp, startTestApp } from '../../support/test-app.js';

const newId = (): string => `b${randomBytes(5).toString('hex')}`;

/**
 * Issue 8 item 3: with every tenant connection of the process in use, creating a tenant (which migrates
 * its new database through the budget) answers 503 problem+json with Retry-After, never 500; retried
 * later, it succeeds. A budget of one connection and a short wait make five concurrent creations collide.
 */
describe('tenant creation against an exhausted connection budget (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ TENANT_CONNECTION_BUDGET: '1', TENANT_CONNECTION_WAIT_MS: '200' });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it('answers 503 with Retry-After (problem+json) to the creations that find no connection, and none 500', async () => {
    const ids = Array.from({ length: 5 }, newId);
    const create = (id: string) =>
      t.request('POST', '/v1/tenants', {
        token: t.operatorToken,
        body: { id, name: id, admin: { username: 'ada', password: 'ada-password-1' } },
      });
    const answers = await Promise.all(ids.map(create));

    expect(answers.map((a) => a.status).filter((s) => s !== 201 && s !== 503)).toEqual([]);
    const refused = answers.flatMap((a, i) => (a.status === 503 ? [{ a, id: ids[i] }] : []));
    expect(refused.length).toBeGreaterThan(0);
    for (const { a } of refused) {
      expect(a.contentType).toMatch(/^application\/problem\+json/);
      expect(a.body.code).toBe('tenant_connections_exhausted');
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // Nothing of a refused creation is left behind (no 409): a client that honours Retry-After gets 201.
    for (const { id } of refused) {
      const statuses: number[] = [];
      for (let i = 0; i < 10 && statuses.at(-1) !== 201; i++) {
        const again = await create(id);
        statuses.push(again.status);
        if (again.status === 503)
          await new Promise((r) => setTimeout(r, Number(again.headers.get('retry-after')) * 1000));
      }
      expect(statuses.filter((s) => s !== 503)).toEqual([201]);
    }
  }, 120_000);
});
