import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { jest } from '@jest/globals';
import { CLOCK, type Clock } from '../../../src/application/ports/clock.port.js';
import { DrainingState } from '../../../src/interfaces/http/health/draining-state.js';
import { type TestApp, type TestResponse, startTestApp } from '../../support/test-app.js';

/** Issue 6, items 3–6 and 16: what the edge refuses, and that every refusal is problem+json. */

const expectProblem = (response: TestResponse, status: number) => {
  expect({ status: response.status, contentType: response.contentType }).toEqual({
    status,
    contentType: expect.stringMatching(/^application\/problem\+json/),
  });
  expect(response.body).toEqual(expect.objectContaining({ type: expect.any(String), status }));
};

const fieldsOf = (response: TestResponse): string[] =>
  ((response.body?.errors ?? []) as { field: string }[]).map((e) => e.field).sort();

/** A raw request: fetch refuses some of what an attacker can send (raw paths, lone surrogates in JSON). */
const raw = (
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<TestResponse> =>
  new Promise((resolve, reject) => {
    const url = new URL(baseUrl);
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'] ?? null,
            headers: new Headers(
              Object.entries(res.headers).flatMap(([k, v]) =>
                v === undefined ? [] : [[k, Array.isArray(v) ? v.join(', ') : v] as [string, string]],
              ),
            ),
            text,
            body: parsed,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });

describe('the request edge (e2e)', () => {
  let t: TestApp;
  const tenantId = `e${randomBytes(5).toString('hex')}`;
  const password = 'edge-password-1';
  let admin: string;

  beforeAll(async () => {
    t = await startTestApp();
    const created = await t.request('POST', '/v1/tenants', {
      token: t.operatorToken,
      body: { id: tenantId, name: 'Edge', admin: { username: 'ada', password, taxId: 'EDGE-1' } },
    });
    expect(created.status).toBe(201);
    const login = await t.request('POST', '/v1/auth/login', {
      body: { tenantId, username: 'ada', password },
    });
    expect(login.status).toBe(200);
    admin = login.body.accessToken;
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('no input gets a 500 (item 3)', () => {
    it('refuses NUL in an unauthenticated login body with 400 naming the field', async () => {
      const response = await t.request('POST', '/v1/auth/login', {
        body: { tenantId: 'ac\u0000me', username: 'ada', password },
      });
      expectProblem(response, 400);
      expect(fieldsOf(response)).toEqual(['tenantId']);
    });

    it('refuses a lone surrogate anywhere in a body, keys included', async () => {
      const value = await raw(
        t.baseUrl,
        'POST',
        '/v1/auth/login',
        { 'content-type': 'application/json' },
        `{"tenantId":"${tenantId}","username":"ada\\ud800","password":"x"}`,
      );
      expectProblem(value, 400);
      expect(fieldsOf(value)).toEqual(['username']);

      const key = await raw(
        t.baseUrl,
        'POST',
        '/v1/reports',
        { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
        '{"subject":{"\\udc00":"x"}}',
      );
      expectProblem(key, 400);
      expect(fieldsOf(key)).toEqual(['subject.\\udc00']);
    });

    it('refuses NUL in a path parameter, naming it', async () => {
      const response = await t.request('GET', '/v1/reports/%00', { token: admin });
      expectProblem(response, 400);
      expect(fieldsOf(response)).toEqual(['id']);
      const cancel = await t.request('POST', '/v1/reports/a%00b/cancel', { token: admin });
      expectProblem(cancel, 400);
      const tenant = await t.request('GET', '/v1/tenants/%00', { token: t.operatorToken });
      expectProblem(tenant, 400);
    });

    it('answers malformed percent-encoding in the path with 400', async () => {
      for (const path of [
        '/v1/reports/%E0%A4%A',
        '/v1/reports/%ED%A0%80',
        '/v1/reports/%',
        '/v1/tenants/%FF',
      ]) {
        const response = await raw(t.baseUrl, 'GET', path, {
          authorization: `Bearer ${path.includes('tenants') ? t.operatorToken : admin}`,
        });
        expectProblem(response, 400);
        expect(fieldsOf(response)).toEqual(['path']);
      }
    });

    it('answers malformed percent-encoding in a query with 400 naming the parameter', async () => {
      for (const [query, field] of [
        ['startingAfter=%ED%A0%80', 'startingAfter'],
        ['limit=10&startingAfter=%C0%80', 'startingAfter'],
        ['startingAfter=%E0%A4%A', 'startingAfter'],
        ['limit=%FF', 'limit'],
        ['%ED%A0%80=1', 'query'],
      ]) {
        const response = await raw(t.baseUrl, 'GET', `/v1/reports?${query}`, {
          authorization: `Bearer ${admin}`,
        });
        expectProblem(response, 400);
        expect({ query, fields: fieldsOf(response) }).toEqual({ query, fields: [field] });
      }
    });

    it('answers a JSON body that is not an object with 400 naming body', async () => {
      for (const body of ['null', '"x"', '42', 'false']) {
        const response = await raw(
          t.baseUrl,
          'POST',
          '/v1/reports',
          { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
          body,
        );
        expectProblem(response, 400);
        expect({ body, type: response.body.type, fields: fieldsOf(response) }).toEqual({
          body,
          type: expect.not.stringMatching(/malformed-json$/),
          fields: ['body'],
        });
      }
    });

    it('refuses NUL in a query, and bounds numbers', async () => {
      const nul = await t.request('GET', '/v1/reports?startingAfter=%00', { token: admin });
      expectProblem(nul, 400);
      expect(fieldsOf(nul)).toEqual(['startingAfter']);
      // Only decimal digits are a number (issue 6 re-test: 0x10 was read as 16, 1e1 as 10, %205 as 5).
      for (const limit of [
        'NaN',
        '1e309',
        '-1',
        '0',
        '101',
        '99999999999999999999',
        '1.5',
        'Infinity',
        '0x10',
        '1e1',
        '%205',
        '5abc',
        '-0',
        '+5',
        '',
      ]) {
        for (const path of ['/v1/reports', '/v1/users', '/v1/webhooks']) {
          const response = await t.request('GET', `${path}?limit=${limit}`, { token: admin });
          expectProblem(response, 400);
          expect({ path, limit, fields: [...new Set(fieldsOf(response))] }).toEqual({
            path,
            limit,
            fields: ['limit'],
          });
        }
      }
      expect((await t.request('GET', '/v1/users?limit=05', { token: admin })).status).toBe(200);
      const twice = await t.request('GET', '/v1/reports?limit=1&limit=2', { token: admin });
      expectProblem(twice, 400);
      // A query the handler reads from the request itself (the SSE resume point) is covered too.
      const resume = await t.request('GET', '/v1/reports/x/events?lastEventId=1%00', { token: admin });
      expectProblem(resume, 400);
      expect(fieldsOf(resume)).toEqual(['lastEventId']);
    });

    it('refuses control and bidi characters in names', async () => {
      for (const name of ['Acme\u202eknaB', 'Acme\u0007', 'Acme\u2066x', 'A\u0085B']) {
        const response = await t.request('POST', '/v1/tenants', {
          token: t.operatorToken,
          body: { id: `n${randomBytes(4).toString('hex')}`, name, admin: { username: 'bob', password } },
        });
        expectProblem(response, 400);
        expect(fieldsOf(response)).toEqual(['name']);
      }
    });

    it('refuses line separators and noncharacters in names, and controls and bidi in descriptions', async () => {
      for (const name of ['Acme\u2028Bank', 'Acme\u2029', 'Acme\uffff', 'Acme\ufdd0']) {
        const response = await t.request('POST', '/v1/tenants', {
          token: t.operatorToken,
          body: { id: `n${randomBytes(4).toString('hex')}`, name, admin: { username: 'bob', password } },
        });
        expectProblem(response, 400);
        expect({ name, fields: fieldsOf(response) }).toEqual({ name, fields: ['name'] });
      }
      // A webhook description is shown to people as well (issue 6 re-test: it took any text).
      for (const description of ['Payroll\u202egpj.exe', 'a\u0007b', 'line\nbreak', 'a\u2066b']) {
        const response = await t.request('POST', '/v1/webhooks', {
          token: admin,
          body: { url: 'https://hooks.example.com/conflux', events: ['report.ready'], description },
        });
        expectProblem(response, 400);
        expect({ description, fields: fieldsOf(response) }).toEqual({ description, fields: ['description'] });
      }
    });

    it('refuses a member a user PATCH does not know, instead of answering 200 without applying it', async () => {
      // Issue 6 re-test: PATCH {"role":"admin","taxid":"X-1"} answered 200 and left the tax ID as it was —
      // the admin believed it set and verified.
      const users = await t.request('GET', '/v1/users', { token: admin });
      const ada = (users.body.data as { id: string; username: string; taxId: string }[]).find(
        (u) => u.username === 'ada',
      )!;
      for (const [body, field] of [
        [{ role: 'admin', taxid: 'X-1' }, 'taxid'],
        [{ taxId: 'X-2', tax_id: 'X-2' }, 'tax_id'],
        [{ role: 'admin', password: 'new-password-1' }, 'password'],
      ] as const) {
        for (const contentType of ['application/json', 'application/merge-patch+json']) {
          const response = await t.request('PATCH', `/v1/users/${ada.id}`, {
            token: admin,
            rawBody: JSON.stringify(body),
            headers: { 'content-type': contentType },
          });
          expectProblem(response, 400);
          expect({ body, fields: fieldsOf(response) }).toEqual({ body, fields: [field] });
        }
      }
      const after = await t.request('GET', '/v1/users', { token: admin });
      expect(after.body.data).toEqual(users.body.data);
    });

    it('refuses an Idempotency-Key that is not printable ASCII', async () => {
      const response = await raw(
        t.baseUrl,
        'POST',
        '/v1/reports',
        {
          'content-type': 'application/json',
          authorization: `Bearer ${admin}`,
          'idempotency-key': Buffer.from('k\u00ffy', 'latin1').toString('latin1'),
        },
        '{}',
      );
      expectProblem(response, 400);
      expect(fieldsOf(response)).toEqual(['Idempotency-Key']);
    });

    it('refuses JSON nested deeper than any request needs', async () => {
      const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
      const response = await t.request('POST', '/v1/reports', { token: admin, rawBody: deep });
      expectProblem(response, 400);
    });
  });

  describe('only JSON is read as JSON (item 4)', () => {
    it('answers 415 to a JSON body sent as text/plain, and creates nothing', async () => {
      const before = await t.request('GET', '/v1/reports?limit=100', { token: admin });
      const response = await t.request('POST', '/v1/reports', {
        token: admin,
        rawBody: '{"period":{"from":"2025-01-01","to":"2025-02-01"}}',
        headers: { 'content-type': 'text/plain' },
      });
      expectProblem(response, 415);
      expect(response.headers.get('accept-post')).toBe('application/json');
      const after = await t.request('GET', '/v1/reports?limit=100', { token: admin });
      expect(after.body.data).toHaveLength(before.body.data.length);
    });

    it('answers 415 to every other media type and to a body without Content-Type', async () => {
      for (const type of [
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'text/json',
      ]) {
        const response = await t.request('POST', '/v1/auth/login', {
          rawBody: JSON.stringify({ tenantId, username: 'ada', password }),
          headers: { 'content-type': type },
        });
        expectProblem(response, 415);
      }
      const none = await raw(t.baseUrl, 'POST', '/v1/auth/login', {}, JSON.stringify({ tenantId }));
      expectProblem(none, 415);
    });

    it('answers 415 to JSON in any charset but UTF-8, on every method that takes a body', async () => {
      const users = await t.request('GET', '/v1/users', { token: admin });
      const userId = (users.body.data as { id: string }[])[0].id;
      for (const charset of ['utf-16', 'UTF-16LE', 'latin1', 'iso-8859-1']) {
        const login = await t.request('POST', '/v1/auth/login', {
          rawBody: JSON.stringify({ tenantId, username: 'ada', password }),
          headers: { 'content-type': `application/json; charset=${charset}` },
        });
        expectProblem(login, 415);
        const patch = await t.request('PATCH', `/v1/users/${userId}`, {
          token: admin,
          rawBody: JSON.stringify({ role: 'admin' }),
          headers: { 'content-type': `application/merge-patch+json; charset=${charset}` },
        });
        expectProblem(patch, 415);
        expect(patch.headers.get('accept-patch')).toBe('application/json, application/merge-patch+json');
      }
    });

    it('reads application/json with a charset, and an empty body of any type', async () => {
      const charset = await t.request('POST', '/v1/auth/login', {
        rawBody: JSON.stringify({ tenantId, username: 'ada', password }),
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      expect(charset.status).toBe(200);
      const empty = await raw(t.baseUrl, 'POST', '/v1/reports', {
        authorization: `Bearer ${admin}`,
        'content-type': 'text/plain',
        'content-length': '0',
      });
      expect(empty.status).toBe(202);
    });
  });

  describe('periods are checked up front (item 5)', () => {
    it.each([
      [{ from: '1975-01-01', to: '2025-01-01' }, 'period.from'],
      [{ from: '2025-02-30', to: '2025-03-01' }, 'period.from'],
      [{ from: '2025-03-01', to: '2025-02-01' }, 'period.from'],
      [{ from: '0050-01-01', to: '2025-01-01' }, 'period.from'],
      [{ from: '2025-01-01', to: new Date(Date.now() + 86_400_000).toISOString().slice(0, 10) }, 'period.to'],
    ])('refuses %j with 400 naming %s', async (period, field) => {
      const response = await t.request('POST', '/v1/reports', { token: admin, body: { period } });
      expectProblem(response, 400);
      expect(fieldsOf(response)).toEqual([field]);
    });

    it('judges "today" by the injected clock (UTC)', async () => {
      const clock = t.conflux.app.get<Clock>(CLOCK);
      const now = jest.spyOn(clock, 'now').mockReturnValue(new Date('2025-06-30T23:30:00Z'));
      try {
        const tomorrow = await t.request('POST', '/v1/reports', {
          token: admin,
          body: { period: { from: '2025-06-01', to: '2025-07-01' } },
        });
        expectProblem(tomorrow, 400);
        expect(fieldsOf(tomorrow)).toEqual(['period.to']);
        const today = await t.request('POST', '/v1/reports', {
          token: admin,
          body: { period: { from: '2025-06-01', to: '2025-06-30' } },
        });
        expect(today.status).toBe(202);
      } finally {
        now.mockRestore();
      }
    });
  });

  describe('idempotency keys fingerprint what was sent (item 6)', () => {
    it('replays {} sent just before and just after midnight UTC as the same report', async () => {
      const clock = t.conflux.app.get<Clock>(CLOCK);
      const now = jest.spyOn(clock, 'now').mockReturnValue(new Date('2026-03-31T23:59:50Z'));
      try {
        const key = `midnight-${randomBytes(4).toString('hex')}`;
        const first = await t.request('POST', '/v1/reports', {
          token: admin,
          body: {},
          headers: { 'idempotency-key': key },
        });
        expect(first.status).toBe(202);
        expect(first.body.period).toEqual({ from: '2025-04-01', to: '2026-03-31' });
        now.mockReturnValue(new Date('2026-04-01T00:00:02Z'));
        const retry = await t.request('POST', '/v1/reports', {
          token: admin,
          body: {},
          headers: { 'idempotency-key': key },
        });
        expect(retry.status).toBe(202);
        expect(retry.body.id).toBe(first.body.id);
        // No body at all is the same request as `{}`; key order does not matter either.
        const empty = await t.request('POST', '/v1/reports', {
          token: admin,
          headers: { 'idempotency-key': key },
        });
        expect(empty.body.id).toBe(first.body.id);
        const other = await t.request('POST', '/v1/reports', {
          token: admin,
          body: { period: { from: '2026-01-01', to: '2026-02-01' } },
          headers: { 'idempotency-key': key },
        });
        expectProblem(other, 422);
        const key2 = `order-${randomBytes(4).toString('hex')}`;
        const ab = await t.request('POST', '/v1/reports', {
          token: admin,
          rawBody: '{"period":{"from":"2026-01-01","to":"2026-02-01"},"subject":{"taxId":"EDGE-1"}}',
          headers: { 'idempotency-key': key2 },
        });
        const ba = await t.request('POST', '/v1/reports', {
          token: admin,
          rawBody: '{"subject":{"taxId":"EDGE-1"},"period":{"to":"2026-02-01","from":"2026-01-01"}}',
          headers: { 'idempotency-key': key2 },
        });
        expect(ab.status).toBe(202);
        expect(ba.body.id).toBe(ab.body.id);
      } finally {
        now.mockRestore();
      }
    });
  });

  describe('every error is problem+json (item 16)', () => {
    it('answers a method a path does not serve with 405 and Allow', async () => {
      const del = await t.request('DELETE', '/v1/reports', { token: admin });
      expectProblem(del, 405);
      expect(del.headers.get('allow')).toBe('GET, HEAD, OPTIONS, POST');
      const put = await t.request('PUT', '/v1/auth/login', { body: {} });
      expectProblem(put, 405);
      expect(put.headers.get('allow')).toBe('OPTIONS, POST');
      const item = await t.request('POST', '/v1/reports/some-id', { token: admin, body: {} });
      expectProblem(item, 405);
      expect(item.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
      const options = await t.request('OPTIONS', '/v1/reports/some-id/cancel');
      expect(options.status).toBe(204);
      expect(options.headers.get('allow')).toBe('OPTIONS, POST');
      // A path no route serves stays 404.
      expectProblem(await t.request('DELETE', '/v1/nothing-here', { token: admin }), 404);
    });

    it('answers CONNECT and requests Node cannot parse with 400 problem+json, nosniff like every answer', async () => {
      const { port } = new URL(t.baseUrl);
      const rawAnswer = (head: string): Promise<string> =>
        new Promise<string>((resolve, reject) => {
          const socket = connect(Number(port), '127.0.0.1', () => socket.write(head));
          let data = '';
          socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
          socket.on('end', () => resolve(data));
          socket.on('error', reject);
        });
      for (const head of [
        // Node would drop a CONNECT without a word.
        `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
        'GET /health/live HTTP/1.1\r\nHost: x\r\nX-Note: a\u0000b\r\n\r\n',
        'GET /v1/reports/\u00ff HTTP/1.1\r\nHost: x\r\n\r\n',
      ]) {
        const [status, body] = (await rawAnswer(head)).split('\r\n\r\n');
        expect({ head, status }).toEqual({
          head,
          status: expect.stringMatching(
            /^HTTP\/1\.1 400 Bad Request(?=[^]*\r\nContent-Type: application\/problem\+json)(?=[^]*\r\nX-Content-Type-Options: nosniff)/i,
          ),
        });
        expect(JSON.parse(body)).toMatchObject({ status: 400 });
      }
    });

    it('answers 413 at once to a body announced over 1 MiB, without waiting for it', async () => {
      // Before: the parser read (and discarded) the whole announced body first; with nothing sent there
      // was no answer until the request timeout.
      const { port } = new URL(t.baseUrl);
      for (const contentType of ['application/json', 'application/merge-patch+json']) {
        const answer = await new Promise<string>((resolve, reject) => {
          const socket = connect(Number(port), '127.0.0.1', () =>
            socket.write(
              `PATCH /v1/users/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\n` +
                `Content-Type: ${contentType}\r\nContent-Length: 99999999999\r\n\r\n{`,
            ),
          );
          let data = '';
          socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
          socket.on('end', () => resolve(data));
          socket.on('error', reject);
        });
        const [head, body] = answer.split('\r\n\r\n');
        expect(head).toMatch(/^HTTP\/1\.1 413 /);
        expect(head).toMatch(/\r\nContent-Type: application\/problem\+json/i);
        expect(head).toMatch(/\r\nConnection: close/i);
        expect(JSON.parse(body)).toMatchObject({ status: 413 });
      }
    });

    it('answers a request that arrives while the server closes with 503 problem+json', async () => {
      const closing = await startTestApp();
      try {
        // Hold the shutdown in its first hook, after the server stopped taking requests for the app.
        let entered!: () => void;
        const inHook = new Promise<void>((resolve) => (entered = resolve));
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        Object.assign(closing.conflux.app.get(DrainingState), {
          onModuleDestroy: async () => {
            entered();
            await held;
          },
        });
        const closed = closing.conflux.close();
        await inHook;
        const response = await raw(closing.baseUrl, 'GET', '/health/live');
        release();
        await closed;
        expectProblem(response, 503);
        expect(response.headers.get('connection')).toBe('close');
        expect(response.headers.get('retry-after')).toBe('1');
      } finally {
        await closing.close();
      }
    });
  });
});
