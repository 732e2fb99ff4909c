import { BadRequestException, ForbiddenException, HttpException, NotFoundException } from '@nestjs/common';
import { z } from 'zod';
import { DomainError } from '../../../../../src/domain/shared/decider.js';
import { DOMAIN_ERROR_STATUS } from '../../../../../src/interfaces/http/problem/domain-error-status.js';
import { ProblemException } from '../../../../../src/interfaces/http/problem/problem-details.js';
import { toProblem } from '../../../../../src/interfaces/http/problem/problem-mapper.js';
import {
  parse,
  ValidationFailed,
  ZodValidationPipe,
} from '../../../../../src/interfaces/http/problem/validation.js';

const schema = z.object({
  id: z.string().regex(/^[a-z]+$/),
  admin: z.object({ username: z.string(), password: z.string().min(8, 'must be at least 8 characters') }),
});

const fieldErrorsOf = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationFailed);
    return (error as ValidationFailed).errors;
  }
  throw new Error('expected a ValidationFailed');
};

describe('validation', () => {
  it('names every invalid field by its dotted path', () => {
    expect(
      fieldErrorsOf(() => parse(schema, { id: 'A1', admin: { username: 'alice', password: 'short' } })),
    ).toEqual([
      { field: 'id', message: expect.any(String) },
      { field: 'admin.password', message: 'must be at least 8 characters' },
    ]);
  });

  it('returns the parsed value when valid', () => {
    expect(parse(schema, { id: 'a', admin: { username: 'u', password: '12345678' }, extra: 1 })).toEqual({
      id: 'a',
      admin: { username: 'u', password: '12345678' },
    });
  });

  it('names the whole input after what the pipe validates (body, query, a parameter)', () => {
    const pipe = new ZodValidationPipe(schema);
    expect(fieldErrorsOf(() => pipe.transform('nope', { type: 'body' }))).toEqual([
      { field: 'body', message: expect.any(String) },
    ]);
    const param = new ZodValidationPipe(z.uuid());
    expect(fieldErrorsOf(() => param.transform('x', { type: 'param', data: 'id' }))).toEqual([
      { field: 'id', message: expect.any(String) },
    ]);
  });
});

describe('toProblem', () => {
  it('maps validation failures to 400 with the field errors', () => {
    const { problem, serverFault } = toProblem(
      new ValidationFailed([{ field: 'admin.password', message: 'too short' }]),
      '/v1/tenants',
    );
    expect(serverFault).toBe(false);
    expect(problem).toEqual({
      type: 'urn:conflux:problem:validation-error',
      title: 'Invalid request',
      status: 400,
      detail: 'One or more fields are invalid.',
      instance: '/v1/tenants',
      errors: [{ field: 'admin.password', message: 'too short' }],
    });
  });

  it.each(Object.entries(DOMAIN_ERROR_STATUS))('maps the domain error %s to %i', (code, status) => {
    const { problem } = toProblem(new DomainError(code, `it is ${code}`));
    expect(problem).toMatchObject({
      status,
      code,
      detail: `it is ${code}`,
      type: expect.stringMatching(/^urn:/),
    });
  });

  it('starts the table with the codes the report feature needs', () => {
    expect(DOMAIN_ERROR_STATUS).toMatchObject({
      report_final: 409,
      report_not_found: 404,
      report_already_exists: 409,
      providers_not_done: 409,
      idempotency_in_flight: 409,
      idempotency_mismatch: 422,
    });
  });

  it('carries Retry-After seconds from a domain error that knows when to come back', () => {
    const lockedOut = Object.assign(new DomainError('invalid_credentials', 'locked'), {
      retryAfterSeconds: 12.2,
    });
    expect(toProblem(lockedOut).retryAfterSeconds).toBe(13);
    expect(toProblem(new DomainError('invalid_credentials', 'no')).retryAfterSeconds).toBeUndefined();
  });

  it('answers an unmapped domain error as a server fault, without its message', () => {
    const { problem, serverFault } = toProblem(new DomainError('forgotten_code', 'internal detail'));
    expect(serverFault).toBe(true);
    expect(problem.status).toBe(500);
    expect(JSON.stringify(problem)).not.toContain('internal detail');
  });

  it('keeps HTTP exceptions, as about:blank problems', () => {
    expect(toProblem(new NotFoundException('Cannot GET /nope')).problem).toEqual({
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      detail: 'Cannot GET /nope',
    });
    expect(toProblem(new ForbiddenException()).problem).toMatchObject({ status: 403, title: 'Forbidden' });
  });

  it('recognises malformed JSON and oversized bodies from the body parser', () => {
    const parseError = Object.assign(new SyntaxError('Unexpected token } in JSON at position 7'), {
      type: 'entity.parse.failed',
      status: 400,
    });
    const malformed = toProblem(new BadRequestException(parseError.message, { cause: parseError })).problem;
    expect(malformed).toMatchObject({ status: 400, type: 'urn:conflux:problem:malformed-json' });
    expect(malformed.detail).not.toContain('position');

    const tooLarge = toProblem(new HttpException('request entity too large', 413)).problem;
    expect(tooLarge).toMatchObject({ status: 413, title: 'Payload Too Large' });
  });

  it.each(['null', '"x"', '42', 'true', ' null '])(
    'given the valid JSON body %s that is not an object, then 400 naming body, not malformed JSON',
    (body) => {
      const parseError = Object.assign(new SyntaxError('Unexpected token'), {
        type: 'entity.parse.failed',
        status: 400,
        body,
      });
      const { problem } = toProblem(new BadRequestException(parseError.message, { cause: parseError }));
      expect(problem).toMatchObject({
        status: 400,
        errors: [{ field: 'body', message: 'must be an object' }],
      });
      expect(problem.type).not.toMatch(/malformed-json$/);
    },
  );

  it('given a body that is not JSON at all, then it is still malformed JSON', () => {
    const parseError = Object.assign(new SyntaxError('x'), {
      type: 'entity.parse.failed',
      status: 400,
      body: '{"a":',
    });
    expect(toProblem(new BadRequestException('x', { cause: parseError })).problem.type).toMatch(
      /malformed-json$/,
    );
  });

  it('adds the extensions of a ProblemException', () => {
    const { problem } = toProblem(
      new ProblemException(503, {
        detail: 'Not ready: eventStore.',
        extensions: { failing: ['eventStore'] },
      }),
    );
    expect(problem).toEqual({
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'Not ready: eventStore.',
      failing: ['eventStore'],
    });
  });

  it('hides everything about unexpected errors', () => {
    const error = new Error('insert into users failed: password_hash=$scrypt$… at postgres://u:p@h/db');
    const { problem, serverFault } = toProblem(error, '/v1/users');
    expect(serverFault).toBe(true);
    expect(problem).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'An unexpected error occurred.',
      instance: '/v1/users',
    });
    expect(toProblem('a string').problem.status).toBe(500);
    expect(toProblem(new HttpException('db down at postgres://u:p@h', 502)).problem.detail).toBe(
      'Bad Gateway',
    );
  });

  // PostgreSQL refusing a connection for load (the cluster's max_connections shared with other instances or
  // clients, a pool that cannot get a connection in time): the client may try again, it is not a bug.
  it.each([
    [
      'too many clients (53300)',
      Object.assign(new Error('sorry, too many clients already'), { code: '53300' }),
    ],
    [
      'the server starting up (57P03)',
      Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
    ],
    ['a pool that gets no connection in time', new Error('timeout exceeded when trying to connect')],
    [
      'an ORM error wrapping too many clients',
      Object.assign(new Error('DriverException'), {
        cause: Object.assign(new Error('sorry, too many clients already'), { code: '53300' }),
      }),
    ],
  ])(
    'given the database refusing a connection for load (%s), then 503 with Retry-After, no detail leaked',
    (_, error) => {
      const { problem, serverFault, retryAfterSeconds } = toProblem(error, '/v1/tenants');
      expect(problem).toEqual({
        type: 'urn:conflux:problem:database-overloaded',
        title: 'Service Unavailable',
        status: 503,
        detail: 'The database is at its connection limit; try again later.',
        instance: '/v1/tenants',
        code: 'database_overloaded',
      });
      expect(retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(serverFault).toBe(true);
    },
  );
});
