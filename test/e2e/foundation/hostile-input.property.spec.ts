import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { textFault, textFaultsIn } from '../../../src/interfaces/http/problem/text-input.js';
import { type TestApp, startTestApp } from '../../support/test-app.js';

/**
 * Issue 6, item 3: no input gets a 500, and every refusal is problem+json. Every route the app's router
 * holds (so a new route is covered without touching this file) gets generated hostile values in each of
 * its inputs: path parameters, query, headers, body — NUL, lone surrogates, bidi overrides, control
 * characters, huge strings, odd JSON (deep, wrong types, numbers out of range), malformed percent-encoding,
 * other media types. Field names come from the OpenAPI document where it describes the route.
 */

const RUNS_PER_ROUTE = Number(process.env.HOSTILE_RUNS_PER_ROUTE ?? 40);

type Route = Readonly<{ method: string; path: string; params: string[] }>;

type Sent = Readonly<{ method: string; path: string; headers: Record<string, string>; body?: Buffer }>;

type Answer = Readonly<{ status: number; contentType: string; text: string }>;

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

/** node:http, not fetch: fetch normalises paths and refuses some bytes an attacker can send. */
const send = (baseUrl: string, sent: Sent): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const url = new URL(baseUrl);
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: sent.method,
        path: sent.path,
        headers: sent.headers,
        agent,
      },
      (res) => {
        const contentType = String(res.headers['content-type'] ?? '');
        if (contentType.startsWith('text/event-stream')) {
          // A live stream never ends on its own: its status and type are all this test needs.
          res.destroy();
          resolve({ status: res.statusCode ?? 0, contentType, text: '' });
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, contentType, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer to ${sent.method} ${sent.path}`)));
    req.on('error', reject);
    req.end(sent.body);
  });

// ---- hostile values -------------------------------------------------------------------------------

const NASTY_CHARS = [
  '\u0000',
  '\ud800',
  '\udbff',
  '\udc00',
  '\udfff',
  '\u202e',
  '\u202a',
  '\u2066',
  '\u2069',
  '\u200f',
  '\u061c',
  '\u0007',
  '\u001b',
  '\u007f',
  '\u0085',
  '\ufeff',
  '\ufffd',
  '\u2028',
  '\u2029',
  '\uffff',
  '\ufffe',
  '\ufdd0',
  '\u{10ffff}',
  '\u{1fffe}',
  '\uff1d',
  '\r',
  '\n',
  '\t',
  '%',
  '/',
  '\\',
  '"',
  "'",
  '.',
  '😀',
];

const nastyChar = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_CHARS) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.constantFrom(...'abcXYZ019-_') },
);

/** Short hostile text: what fits a path, a query or a header (Node refuses a request head over 16 KiB). */
const shortHostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: nastyChar, maxLength: 40 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      'ac\u0000me',
      '\ud800',
      'x\udfffy',
      'Acme\u202eknaB',
      '../../etc/passwd',
      'NaN',
      '1e309',
      '-1',
      '-0',
      'Infinity',
      '99999999999999999999999',
      '0x10',
      '2025-02-30',
      '1975-01-01',
      'null',
      'true',
      '[]',
      '{}',
      '__proto__',
      "' OR 1=1 --",
      '${jndi:ldap://x}',
    ),
  },
);

/** Hostile text for bodies, huge strings included. */
const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: shortHostileString },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 70_000 }).map((n) => 'a'.repeat(n)) },
);

/** A JSON value of any type, with hostile strings, odd numbers and deep nesting. */
const hostileJsonValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    fc.double(),
    fc.integer(),
    fc.constantFrom(0, -1, 2 ** 31, 2 ** 53 + 1, Number.MAX_VALUE, -Number.MAX_VALUE, 1e-320),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Raw JSON texts JSON.stringify cannot produce: numbers beyond a double, deep nesting, broken JSON. */
const RAW_BODIES = [
  '',
  'null',
  '[]',
  '"\\u0000"',
  '1e309',
  '{"a":1e309}',
  '{"limit":-1e400}',
  '{"period":{"from":1e309,"to":"2025-01-01"}}',
  '{"__proto__":{"admin":true}}',
  '{"constructor":{"prototype":{"x":1}}}',
  `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
  `${'{"a":'.repeat(2_000)}1${'}'.repeat(2_000)}`,
  '{"a":',
  '\u0000',
  '{"x":"\\ud800"}',
  '{"\\u0000":1}',
];

type FieldTree = { [field: string]: FieldTree | null };

/** Objects whose keys are the route's own field names (so hostile values reach its schema), nested too. */
const bodyFor = (fields: FieldTree): fc.Arbitrary<unknown> => {
  const names = Object.keys(fields);
  if (names.length === 0) return hostileJsonValue;
  return fc
    .array(
      fc.tuple(
        fc.constantFrom(...names),
        fc.oneof(hostileJsonValue, hostileString),
        fc.boolean(), // a nested field: descend instead of replacing the whole object
      ),
      { maxLength: names.length + 1 },
    )
    .chain((picks) =>
      fc
        .tuple(
          ...picks.map(([name, value, descend]) => {
            const nested = fields[name];
            return descend && nested ? bodyFor(nested) : fc.constant(value);
          }),
        )
        .map((values) => Object.fromEntries(picks.map(([name], i) => [name, values[i]]))),
    );
};

const utf8Percent = (value: string): string =>
  [...Buffer.from(value, 'utf8')]
    .map((byte) =>
      /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).padStart(2, '0').toUpperCase()}`,
    )
    .join('');

/** A path segment or query value as bytes on the wire: encoded hostile text, or malformed encodings. */
const hostileEncoded: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: shortHostileString.map(utf8Percent) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '%',
      '%0',
      '%zz',
      '%E0%A4%A',
      '%ED%A0%80', // a surrogate encoded as UTF-8 (CESU-8): not valid UTF-8
      '%C0%80', // overlong NUL
      '%FF',
      '%00',
      '%2e%2e',
      '..',
      '%2F',
      '%u0000',
      '%25',
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 3_000 }).map((n) => 'x'.repeat(n)) },
);

const headerValue: fc.Arbitrary<string> = fc.oneof(
  // What a header may carry at all: visible ASCII, space, tab and obs-text (bytes 0x80–0xFF).
  fc.string({
    unit: fc.oneof(
      fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
      fc.constant('\t'),
    ),
    maxLength: 300,
  }),
  fc.constantFrom('', ' ', '-1', '1e309', '99999999999999999999', '0', 'NaN', 'x'.repeat(2000)),
);

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/merge-patch+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/json; charset=iso-8859-1',
  'application/merge-patch+json; charset=utf-16',
  'APPLICATION/JSON',
  'application/json;;',
  'text/json',
  'application/vnd.api+json',
  'application/json-patch+json',
  '',
  '*/*',
];

// ---- the property -----------------------------------------------------------------------------------

describe('hostile input on every route (e2e, property-based)', () => {
  let t: TestApp;
  let routes: Route[];
  let openApi: { paths?: Record<string, Record<string, any>> };
  const tokens: Record<string, string | undefined> = { none: undefined };
  const tenantId = `h${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    t = await startTestApp();
    const password = 'hostile-password-1';
    const created = await t.request('POST', '/v1/tenants', {
      token: t.operatorToken,
      body: {
        id: tenantId,
        name: 'Hostile',
        selfSignup: true,
        admin: { username: 'ada', password, taxId: 'H-1' },
      },
    });
    expect(created.status).toBe(201);
    const login = await t.request('POST', '/v1/auth/login', {
      body: { tenantId, username: 'ada', password },
    });
    tokens.admin = login.body.accessToken;
    tokens.operator = t.operatorToken;
    tokens.garbage = 'not.a.jwt';

    const router = t.conflux.app.getHttpAdapter().getInstance().router;
    routes = (router.stack as any[])
      .filter((layer) => layer.route)
      .flatMap((layer) =>
        (layer.route._methods() as string[])
          .filter((method) => method !== 'HEAD')
          .map((method) => ({
            method,
            path: String(layer.route.path),
            params: [...String(layer.route.path).matchAll(/:(\w+)/g)].map((m) => m[1]),
          })),
      );
    openApi = (await t.request('GET', '/docs/openapi.json')).body ?? {};
  });
  afterAll(async () => {
    agent.destroy();
    await t?.close();
  });

  it('finds the routes to attack in the router', () => {
    const names = routes.map((r) => `${r.method} ${r.path}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'POST /v1/tenants',
        'GET /v1/tenants/:id',
        'POST /v1/auth/login',
        'POST /v1/auth/signup',
        'POST /v1/users',
        'POST /v1/reports',
        'GET /v1/reports',
        'GET /v1/reports/:id',
        'POST /v1/reports/:id/cancel',
        'GET /v1/reports/:id/files/:name',
        'GET /v1/reports/:id/events',
        'GET /v1/files/download',
        'GET /health/ready',
      ]),
    );
  });

  /** The route's documented body fields (nested) and query parameters, where OpenAPI has them. */
  const describedInputs = (route: Route): { body: FieldTree; query: string[] } => {
    const operation = openApi.paths?.[route.path.replace(/:(\w+)/g, '{$1}')]?.[route.method.toLowerCase()];
    const tree = (schema: any, depth = 0): FieldTree =>
      Object.fromEntries(
        Object.entries((schema?.properties ?? {}) as Record<string, any>).map(([name, child]) => [
          name,
          depth < 3 && child?.properties ? tree(child, depth + 1) : null,
        ]),
      );
    const query = ((operation?.parameters ?? []) as any[]).filter((p) => p.in === 'query').map((p) => p.name);
    const body = tree(operation?.requestBody?.content?.['application/json']?.schema);
    // Until a route documents its body, the API's body fields (api.md, Bodies) stand in for its own.
    return { body: Object.keys(body).length > 0 ? body : CONTRACT_FIELDS, query };
  };

  const CONTRACT_FIELDS: FieldTree = {
    id: null,
    name: null,
    tenantId: null,
    username: null,
    password: null,
    taxId: null,
    role: null,
    selfSignup: null,
    databaseUrl: null,
    admin: { username: null, password: null, taxId: null },
    subject: { taxId: null },
    period: { from: null, to: null },
    url: null,
    events: null,
    description: null,
  };

  const KNOWN_QUERY = ['limit', 'startingAfter', 'lastEventId', 'access_token', 'key', 'exp', 'sig', 'name'];

  type Generated = Readonly<{
    method: string;
    params: string[];
    query: [string, string][];
    headers: Record<string, string>;
    auth: string;
    contentType: string;
    body: string | undefined;
  }>;

  const requestFor = (route: Route): fc.Arbitrary<Generated> => {
    const inputs = describedInputs(route);
    const queryNames = [...new Set([...inputs.query, ...KNOWN_QUERY])];
    return fc.record({
      method: fc.oneof(
        { weight: 8, arbitrary: fc.constant(route.method) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            'GET',
            'POST',
            'PUT',
            'PATCH',
            'DELETE',
            'OPTIONS',
            'HEAD',
            'TRACE',
            'PROPFIND',
          ),
        },
      ),
      params: fc.tuple(
        ...route.params.map(() =>
          fc.oneof({ weight: 3, arbitrary: hostileEncoded }, { weight: 1, arbitrary: fc.constant('x') }),
        ),
      ),
      query: fc.array(
        fc.tuple(
          fc.oneof(
            { weight: 3, arbitrary: fc.constantFrom(...queryNames) },
            { weight: 1, arbitrary: hostileEncoded },
            { weight: 1, arbitrary: fc.constantFrom('a[b][c]', 'limit[]', '__proto__[x]') },
          ),
          hostileEncoded,
        ),
        { maxLength: 3 },
      ),
      headers: fc.record(
        {
          'idempotency-key': headerValue,
          'last-event-id': headerValue,
          traceparent: headerValue,
          accept: fc.constantFrom('application/json', 'text/event-stream', 'text/html', '*/*'),
          'x-forwarded-for': headerValue,
          'x-request-id': headerValue,
          cookie: headerValue,
          'if-none-match': headerValue,
        },
        { requiredKeys: [] },
      ),
      auth: fc.constantFrom('none', 'admin', 'operator', 'garbage', 'malformed'),
      contentType: fc.oneof(
        { weight: 4, arbitrary: fc.constant('application/json') },
        { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
      ),
      body: fc.oneof(
        { weight: 1, arbitrary: fc.constant(undefined) },
        { weight: 5, arbitrary: bodyFor(inputs.body).map((v) => JSON.stringify(v)) },
        { weight: 2, arbitrary: fc.constantFrom(...RAW_BODIES) },
      ),
    });
  };

  const hasMalformedQuery = (path: string): boolean =>
    path
      .split('?')
      .slice(1)
      .join('?')
      .split(/[&=]/)
      .some((part) => {
        try {
          decodeURIComponent(part);
          return false;
        } catch {
          return true;
        }
      });

  const decoded = (text: string): string | undefined => {
    try {
      return decodeURIComponent(text);
    } catch {
      return undefined;
    }
  };

  /**
   * Whether the request carries text that cannot be stored (NUL, an unpaired surrogate, JSON nested too
   * deep) in a path parameter, a query name or value, or a JSON body: such a request is refused whatever
   * else it holds — it never succeeds (issue 6: "NUL and lone surrogates refused with 400").
   */
  const carriesUnstorableText = (g: Generated): boolean => {
    const texts = [...g.params, ...g.query.flat()].map(decoded);
    if (texts.some((text) => text !== undefined && textFault(text) !== undefined)) return true;
    if (g.body === undefined) return false;
    try {
      return textFaultsIn(JSON.parse(g.body), 'body', 1).length > 0;
    } catch {
      return false;
    }
  };

  const toSent = (route: Route, g: Generated): Sent => {
    let i = 0;
    const path = route.path.replace(/:(\w+)/g, () => g.params[i++]);
    const query = g.query.map(([k, v]) => `${k}=${v}`).join('&');
    const headers: Record<string, string> = { ...g.headers };
    const token = tokens[g.auth];
    if (token) headers.authorization = `Bearer ${token}`;
    // A malformed Authorization header: a hostile value where the scheme or token should be.
    if (g.auth === 'malformed') headers.authorization = g.headers['x-request-id'] ?? 'Bearer';
    const body = g.body === undefined ? undefined : Buffer.from(g.body, 'utf8');
    if (body && g.contentType) headers['content-type'] = g.contentType;
    // Always framed: without it node:http sends a GET or HEAD body unframed, i.e. as a next request.
    if (body) headers['content-length'] = String(body.length);
    return { method: g.method, path: query ? `${path}?${query}` : path, headers, body };
  };

  it(
    'answers every generated request below 500, and every 4xx as problem+json',
    async () => {
      expect(routes.length).toBeGreaterThan(10);
      const statuses = new Map<number, number>();
      for (const route of routes) {
        await fc.assert(
          fc.asyncProperty(requestFor(route), async (generated) => {
            const sent = toSent(route, generated);
            // Over 16 KiB of request head Node answers 431 and closes while the client still writes: a reset,
            // not an answer. That path is Node's (see answerClientErrors' unit test), not the app's.
            fc.pre(sent.path.length + Object.values(sent.headers).join('').length < 12_000);
            const answer = await send(t.baseUrl, sent);
            statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
            const where = `${route.method} ${route.path} as ${sent.method} ${sent.path.slice(0, 200)}`;
            if (answer.status >= 500)
              throw new Error(`${where} answered ${answer.status}: ${answer.text.slice(0, 300)}`);
            // A query that is not valid percent-encoded UTF-8 never reaches a handler (issue 6): 400, unless
            // a guard that runs before the text checks (OPTIONS' 204, 405, 413, 415) answered first.
            const earlier = sent.method === 'OPTIONS' ? [204, 405, 413, 415] : [405, 413, 415];
            if (hasMalformedQuery(sent.path) && ![400, ...earlier].includes(answer.status))
              throw new Error(`${where} answered ${answer.status} to a malformed query encoding`);
            // OPTIONS is answered (204 + Allow) before any input is read.
            if (answer.status < 400 && sent.method !== 'OPTIONS' && carriesUnstorableText(generated))
              throw new Error(`${where} answered ${answer.status} to unstorable text`);
            if (answer.status >= 400 && sent.method !== 'HEAD') {
              if (!answer.contentType.startsWith('application/problem+json'))
                throw new Error(`${where} answered ${answer.status} as ${answer.contentType}`);
              const problem = JSON.parse(answer.text) as { status?: number };
              if (problem.status !== answer.status)
                throw new Error(`${where}: problem status ${problem.status} on a ${answer.status}`);
            }
          }),
          { numRuns: RUNS_PER_ROUTE, endOnFailure: true },
        );
      }
      // The generator reaches the validators, not only the guards: plenty of 400s, not just 401s.
      expect(statuses.get(400) ?? 0).toBeGreaterThan(routes.length * 5);
    },
    60_000 + RUNS_PER_ROUTE * 3_000,
  );
});
