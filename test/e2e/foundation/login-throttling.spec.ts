import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { type TestApp, startTestApp } from '../../support/test-app.js';

/**
 * Issue 6, item 7: failed logins are throttled per tenant+username and per client address, in the control
 * database (so every instance counts together), answered 429 problem+json with Retry-After.
 *
 * Each test logs in from its own loopback address (127.0.0.x, all local on Linux) so that the per-address
 * counts of one test do not leak into another.
 */
const MAX_FAILURES = 3;
// Long enough that a loaded machine cannot outlast a lockout between two requests of one test.
const LOCKOUT_SECONDS = 15;
const PROBLEM = /^application\/problem\+json/;
const newId = () => `l${randomBytes(5).toString('hex')}`;

type Answer = Readonly<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }>;

let nextAddress = 10;
/** A fresh client address for one test: 127.0.0.10, .11, … */
const freshAddress = () => `127.0.0.${nextAddress++}`;

/** POST /v1/auth/login from `address` (the socket's local address: what the server sees as `req.ip`). */
const loginFrom = (
  app: TestApp,
  address: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const url = new URL('/v1/auth/login', app.baseUrl);
    const payload = JSON.stringify(body);
    const req = httpRequest(
      url,
      {
        method: 'POST',
        localAddress: address,
        agent: false,
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text ? JSON.parse(text) : undefined,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });

const expectLockedOut = (answer: Answer) => {
  expect(answer.status).toBe(429);
  expect(answer.headers['content-type']).toMatch(PROBLEM);
  expect(answer.body).toMatchObject({ status: 429, code: 'login_locked_out' });
  const retryAfter = Number(answer.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(LOCKOUT_SECONDS);
};

describe('login throttling (e2e)', () => {
  // Two instances on one control database, as behind a load balancer: same secrets, same tenants.
  const shared = {
    JWT_SECRET: randomBytes(32).toString('hex'),
    MASTER_KEY: randomBytes(32).toString('base64'),
    LOGIN_MAX_FAILURES: String(MAX_FAILURES),
    LOGIN_LOCKOUT_SECONDS: String(LOCKOUT_SECONDS),
  };
  let a: TestApp;
  let b: TestApp;
  const tenant = newId();
  const passwords: string[] = [];
  const users: Record<string, string> = {};

  const addUser = async (token: string, username: string) => {
    const password = `${username}-${randomBytes(6).toString('hex')}`;
    passwords.push(password);
    users[username] = password;
    const created = await a.request('POST', '/v1/users', {
      token,
      body: { username, password, taxId: `${username}-1` },
    });
    expect(created.status).toBe(201);
  };
  const right = (username: string) => ({ tenantId: tenant, username, password: users[username] });
  const wrong = (username: string, n = 0) => ({
    tenantId: tenant,
    username,
    password: `wrong-password-${n}`,
  });

  beforeAll(async () => {
    a = await startTestApp(shared);
    b = await startTestApp({ ...shared, DATABASE_URL: a.controlUrl });
    const adminPassword = 'admin-password-1';
    passwords.push(adminPassword);
    const created = await a.request('POST', '/v1/tenants', {
      token: a.operatorToken,
      body: { id: tenant, name: 'Throttled', admin: { username: 'root', password: adminPassword } },
    });
    expect(created.status).toBe(201);
    const admin = await a.request('POST', '/v1/auth/login', {
      body: { tenantId: tenant, username: 'root', password: adminPassword },
    });
    for (const name of [
      'ann',
      'ben',
      'cat',
      'dan',
      'eve',
      'fay',
      'gus',
      'hal',
      'ivy',
      'jon',
      'kim',
      'lea',
      'mia',
    ])
      await addUser(admin.body.accessToken as string, name);
  }, 180_000); // two apps and nine scrypt hashes: slow on a loaded machine

  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  // One failure for each of three users from one claimed address (no username reaches its limit), then a
  // right password from that claimed address and from another one.
  const failThenLogin = async (app: TestApp, socket: string) => {
    const forwarded = (address: string) => ({ 'x-forwarded-for': address });
    for (const name of ['ivy', 'jon', 'kim'])
      expect((await loginFrom(app, socket, wrong(name), forwarded('203.0.113.7'))).status).toBe(401);
    return {
      same: await loginFrom(app, socket, right('lea'), forwarded('203.0.113.7')),
      other: await loginFrom(app, socket, right('lea'), forwarded('198.51.100.9')),
    };
  };

  it('with TRUST_PROXY=1 counts each X-Forwarded-For client apart', async () => {
    const proxied = await startTestApp({ ...shared, DATABASE_URL: a.controlUrl, TRUST_PROXY: '1' });
    try {
      const { same, other } = await failThenLogin(proxied, freshAddress());
      expectLockedOut(same);
      expect(other.status).toBe(200);
    } finally {
      await proxied.close();
    }
  }, 120_000);

  it('without TRUST_PROXY ignores X-Forwarded-For: the socket address is locked out for every claimed client', async () => {
    const { same, other } = await failThenLogin(a, freshAddress());
    expectLockedOut(same);
    expectLockedOut(other);
  }, 60_000);

  it(`locks a username out after ${MAX_FAILURES} failures: 429 with Retry-After, even for the right password, until the lockout ends`, async () => {
    const from = freshAddress();
    for (let i = 0; i < MAX_FAILURES; i += 1)
      expect((await loginFrom(a, from, wrong('ann', i))).status).toBe(401);
    // From another address too: the lock is on the username, not only on the address that failed.
    const locked = await loginFrom(a, freshAddress(), right('ann'));
    expectLockedOut(locked);
    const lockedAt = Date.now();

    // Waiting it out, polled from one address (a refused attempt neither counts nor extends the lockout).
    const poller = freshAddress();
    let answer = locked;
    while (answer.status === 429) {
      expect(Date.now() - lockedAt).toBeLessThan((LOCKOUT_SECONDS + 10) * 1000);
      await new Promise((resolve) => setTimeout(resolve, 250));
      answer = await loginFrom(a, poller, right('ann'));
    }
    expect(answer.status).toBe(200);
    // Not before the lockout could have ended (Retry-After is rounded up to whole seconds).
    expect(Date.now() - lockedAt).toBeGreaterThanOrEqual((Number(locked.headers['retry-after']) - 1) * 1000);
  }, 60_000);

  it('counts failures across two instances sharing the control database', async () => {
    const from = freshAddress();
    const answers = [];
    for (let i = 0; i < MAX_FAILURES; i += 1)
      answers.push(await loginFrom(i % 2 ? b : a, from, wrong('ben', i)));
    expect(answers.map((x) => x.status)).toEqual(Array(MAX_FAILURES).fill(401));
    expectLockedOut(await loginFrom(b, freshAddress(), right('ben')));
    expectLockedOut(await loginFrom(a, freshAddress(), right('ben')));
  });

  it('limits one client address across usernames (and unknown ones)', async () => {
    const from = freshAddress();
    const names = ['cat', 'no-such-user', 'dan'];
    for (const [i, name] of names.entries())
      expect((await loginFrom(a, from, wrong(name, i))).status).toBe(401);
    // Each username failed once only, yet this address is out — for any user, right password or not.
    expectLockedOut(await loginFrom(b, from, right('eve')));
    // Another address is unaffected.
    expect((await loginFrom(a, freshAddress(), right('eve'))).status).toBe(200);
  });

  it("starts a username's count over after a successful login", async () => {
    // Two failures then success, twice (from two addresses, so only the per-user count can matter):
    // without the reset the fourth failure would lock the user and the last login would be 429.
    for (const from of [freshAddress(), freshAddress()]) {
      for (let i = 0; i < MAX_FAILURES - 1; i += 1)
        expect((await loginFrom(a, from, wrong('fay', i))).status).toBe(401);
      expect((await loginFrom(b, from, right('fay'))).status).toBe(200);
    }
  });

  it('checks at most LOGIN_MAX_FAILURES passwords of concurrent guesses; the rest are 429', async () => {
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => loginFrom(i % 2 ? a : b, freshAddress(), wrong('gus', i))),
    );
    const statuses = answers.map((x) => x.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(MAX_FAILURES);
    expect(statuses.filter((s) => s === 429)).toHaveLength(12 - MAX_FAILURES);
  }, 60_000);

  it('treats usernames alike ignoring case', async () => {
    const from = freshAddress();
    for (const name of ['hal', 'HAL', 'Hal'].slice(0, MAX_FAILURES))
      expect((await loginFrom(a, freshAddress(), wrong(name))).status).toBe(401);
    expectLockedOut(await loginFrom(a, from, right('hal')));
  });

  it('lets no other spelling of a locked-out username in: a look-alike is another, unknown name', async () => {
    // Before: "mİa" (U+0130) found "mia" through PostgreSQL's lower() but counted under another throttle
    // key, so it logged in while "mia" was locked out, and brought fresh guesses with every spelling.
    for (let n = 0; n < MAX_FAILURES; n++)
      expect((await loginFrom(a, freshAddress(), wrong('mia', n))).status).toBe(401);
    for (const spelling of ['mia', 'MIA', 'mİa', 'MİA'].map((name) => ({
      ...right('mia'),
      username: name,
    }))) {
      const answer = await loginFrom(a, freshAddress(), spelling);
      expect({ username: spelling.username, status: answer.status }).toEqual({
        username: spelling.username,
        status: /İ/.test(spelling.username) ? 401 : 429,
      });
    }
  });

  it('logs failed logins at warn with tenant, username and address — never a password', async () => {
    const failed = a.logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.msg === 'login failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0]).toMatchObject({
      level: 'warn',
      tenantId: tenant,
      username: expect.any(String),
      address: expect.stringMatching(/^127\.0\.0\.\d+$/),
    });
    const logs = [...a.logs, ...b.logs].join('\n');
    for (const secret of [...passwords, 'wrong-password-']) expect(logs).not.toContain(secret);
  });
});
