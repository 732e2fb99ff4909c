import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { BadRequestException } from '@nestjs/common';
import fc from 'fast-check';
import { toProblem } from '../../../../../src/interfaces/http/problem/problem-mapper.js';
import {
  acceptsBodyOf,
  answerClientErrors,
  queryEncodingFaults,
  refuseFaultyText,
  TextInputPipe,
} from '../../../../../src/interfaces/http/problem/request-guards.js';
import {
  MAX_JSON_DEPTH,
  nameFault,
  nameText,
  text,
  textFault,
  textFaultsIn,
} from '../../../../../src/interfaces/http/problem/text-input.js';
import { ValidationFailed } from '../../../../../src/interfaces/http/problem/validation.js';

describe('text faults', () => {
  it('finds NUL and unpaired surrogates, and nothing in well-formed text', () => {
    for (const bad of ['\u0000', 'a\u0000', '\ud800', 'x\udbffy', '\udc00', 'a\udfff', '\ud83d'])
      expect(textFault(bad)).toBe('must not contain NUL characters or unpaired surrogates');
    for (const good of ['', 'Acme Bank', 'Zürich', '😀', '\ud83d\ude00', '日本', '\u202e', '\t'])
      expect(textFault(good)).toBeUndefined();
  });

  it('finds no fault in any well-formed string without NUL (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(textFault(s.replaceAll('\u0000', ''))).toBeUndefined();
      }),
    );
  });

  it('refuses control and bidi characters in names', () => {
    for (const bad of [
      'Acme\u202eknaB',
      'a\u2066',
      'a\u2069',
      'a\u200f',
      'a\u061c',
      'a\u0007',
      'a\u007f',
      'a\u0085',
      'a\n',
      // Line breaks by another name, and noncharacters (issue 6 re-test).
      'a\u2028b',
      'a\u2029b',
      'a\uffffb',
      'a\ufffe',
      'a\ufdd0',
      'a\u{10ffff}',
      'a\u{1fffe}',
    ])
      expect({ bad, fault: nameFault(bad) }).toEqual({
        bad,
        fault: 'must not contain control or bidi characters',
      });
    expect(nameFault('a\u0000')).toBe('must not contain NUL characters or unpaired surrogates');
    for (const good of [
      'Société Générale 😀',
      'Ærøskøbing Bank',
      '東京銀行',
      'a\u200db',
      'e\u0301',
      '👩\u200d💻',
    ])
      expect(nameFault(good)).toBeUndefined();
  });

  it('gives zod schemas the same rules', () => {
    expect(text(5).safeParse('ab\u0000').success).toBe(false);
    expect(text(5).safeParse('abcdef').success).toBe(false);
    expect(text(5).safeParse('abc').success).toBe(true);
    expect(nameText(50).safeParse('Acme\u202e').success).toBe(false);
    expect(nameText(50).safeParse('Acme').success).toBe(true);
  });
});

describe('textFaultsIn', () => {
  it('names each faulty value and key by its dotted path', () => {
    expect(
      textFaultsIn(
        { tenantId: 'ac\u0000me', admin: { username: 'x\ud800', ['k\u0000']: 1 }, list: ['ok', '\udc00'] },
        'body',
      ),
    ).toEqual(
      expect.arrayContaining([
        { field: 'tenantId', message: expect.any(String) },
        { field: 'admin.username', message: expect.any(String) },
        { field: 'admin.k\\u0000', message: expect.stringContaining('field name') },
        { field: 'list.1', message: expect.any(String) },
      ]),
    );
    expect(textFaultsIn('\u0000', 'id')).toEqual([{ field: 'id', message: expect.any(String) }]);
    expect(textFaultsIn({ a: 1, b: [true, null, 'fine'] }, 'body')).toEqual([]);
  });

  it('refuses nesting deeper than the limit without overflowing the stack', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(textFaultsIn(deep, 'body')).toEqual([
      { field: expect.any(String), message: `must not be nested deeper than ${MAX_JSON_DEPTH} levels` },
    ]);
  });
});

describe('TextInputPipe', () => {
  const pipe = new TextInputPipe();

  it('refuses a faulty path parameter, naming it', () => {
    expect(() => pipe.transform('%\u0000', { type: 'param', data: 'id' })).toThrow(ValidationFailed);
    try {
      pipe.transform('\u0000', { type: 'param', data: 'id' });
    } catch (error) {
      expect((error as ValidationFailed).errors).toEqual([{ field: 'id', message: expect.any(String) }]);
    }
  });

  it('passes clean input through unchanged, and leaves custom decorators alone', () => {
    const body = { a: 'b' };
    expect(pipe.transform(body, { type: 'body' })).toBe(body);
    const user = { name: '\u0000' };
    expect(pipe.transform(user, { type: 'custom' })).toBe(user);
  });
});

describe('refuseFaultyText', () => {
  const run = (req: object): unknown => {
    let passed: unknown = 'not called';
    refuseFaultyText()(
      { originalUrl: '/', query: {}, headers: {}, body: undefined, ...req } as never,
      {} as never,
      (error?: unknown) => (passed = error),
    );
    return passed;
  };

  it('refuses faulty query values, headers and body strings read off the request, naming them', () => {
    const error = run({
      query: { lastEventId: '1\u0000' },
      headers: { 'last-event-id': 'x\ud800' },
      body: { note: '\udc00' },
    });
    expect(error).toBeInstanceOf(ValidationFailed);
    expect((error as ValidationFailed).errors.map((e) => e.field).sort()).toEqual([
      'last-event-id',
      'lastEventId',
      'note',
    ]);
  });

  it('lets clean requests through', () => {
    expect(run({ query: { limit: '5' }, headers: { accept: '*/*' }, body: { a: ['b'] } })).toBeUndefined();
  });
});

describe('acceptsBodyOf', () => {
  it('reads JSON only, merge-patch for PATCH only', () => {
    expect(acceptsBodyOf('application/json', 'POST')).toBe(true);
    expect(acceptsBodyOf('Application/JSON; charset=utf-8', 'POST')).toBe(true);
    expect(acceptsBodyOf('application/merge-patch+json', 'PATCH')).toBe(true);
    expect(acceptsBodyOf('application/merge-patch+json', 'POST')).toBe(false);
    for (const other of [
      'text/plain',
      'text/json',
      'application/jsonx',
      'application/x-www-form-urlencoded',
      '',
      undefined,
    ])
      expect(acceptsBodyOf(other, 'POST')).toBe(false);
  });

  it('reads UTF-8 only: any other charset is refused, not decoded into garbage', () => {
    for (const utf8 of [
      'application/json; charset=UTF-8',
      'application/json;charset="utf-8"',
      'application/json; charset=utf8',
    ])
      expect(acceptsBodyOf(utf8, 'POST')).toBe(true);
    for (const other of [
      'application/json; charset=utf-16',
      'application/json; charset=UTF-16LE',
      'application/json; charset=latin1',
      'application/json; charset=iso-8859-1',
      'application/merge-patch+json; charset=utf-32',
      'application/json; charset=',
    ])
      expect({ other, accepted: acceptsBodyOf(other, 'PATCH') }).toEqual({ other, accepted: false });
  });
});

describe('malformed percent-encoding', () => {
  it('maps the router URIError to 400 naming the path', () => {
    const routerError = Object.assign(new URIError("Failed to decode param '%E0'"), { status: 400 });
    const { problem } = toProblem(new BadRequestException(routerError.message, { cause: routerError }));
    expect(problem).toMatchObject({ status: 400, errors: [{ field: 'path', message: expect.any(String) }] });
  });
});

describe('answerClientErrors', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((_req, res) => res.end('ok'));
    answerClientErrors(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('answers a request Node cannot parse with 400 problem+json', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('NOT A REQUEST\r\n\r\n'));
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    const [head, body] = answer.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(head).toMatch(/\r\nContent-Type: application\/problem\+json\r\n/i);
    expect(head).toMatch(/\r\nConnection: close/i);
    // Like every other answer (issue 6, item 8): it was the one response without nosniff.
    expect(head).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/i);
    expect(JSON.parse(body)).toMatchObject({ status: 400, title: 'Bad Request' });
  });

  it('answers CONNECT (a proxy tunnel, which Node would drop unanswered) with 400 problem+json', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () =>
        socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'),
      );
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    const [head, body] = answer.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(head).toMatch(/\r\nContent-Type: application\/problem\+json\r\n/i);
    expect(JSON.parse(body)).toMatchObject({ status: 400, title: 'Bad Request' });
  });
});

describe('queryEncodingFaults', () => {
  it.each([
    ['startingAfter=%ED%A0%80', 'startingAfter'],
    ['limit=10&startingAfter=%C0%80', 'startingAfter'],
    ['a=%', 'a'],
    ['a=%zz', 'a'],
    ['a=%E0%A4%A', 'a'],
    ['a=%FF', 'a'],
    ['%ED%A0%80=1', 'query'],
    ['a%FF', 'query'],
  ])('given ?%s, then the parameter %s is refused', (raw, field) => {
    expect(queryEncodingFaults(raw)).toEqual([{ field, message: 'is not valid percent-encoded UTF-8' }]);
  });

  it.each([[''], ['a=1&b=%E2%82%AC'], ['q=a+b&x'], ['a=%00'], ['a=%F0%9F%98%80&&b=']])(
    'given ?%s, then nothing is refused (other rules judge the decoded text)',
    (raw) => {
      expect(queryEncodingFaults(raw)).toEqual([]);
    },
  );
});
