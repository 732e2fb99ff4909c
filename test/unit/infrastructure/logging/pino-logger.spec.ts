import { Writable } from 'node:stream';
import { createLogger, redactSecrets } from '../../../../src/infrastructure/logging/pino-logger.js';

describe('log redaction', () => {
  it('masks credentials, hashes and tokens inside free text', () => {
    const text = [
      'connect postgres://admin:hunter22@db:5432/x failed',
      "insert into users values ('$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA')",
      'Authorization: Bearer abc.def-ghi',
      'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl',
    ].join('\n');
    const redacted = redactSecrets(text);
    for (const secret of ['hunter22', 'admin:', '$scrypt$', 'abc.def-ghi', 'eyJhbGciOiJIUzI1NiJ9'])
      expect(redacted).not.toContain(secret);
    expect(redacted).toContain('postgres://[redacted]@db:5432/x');
  });

  it('drops secret-named fields from structured log lines', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger('info', sink);
    logger.info({ password: 'p4ssw0rd!', user: { accessToken: 'tok-123', name: 'bob' } }, 'hello');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]);
    expect(line).toMatchObject({ level: 'info', msg: 'hello', service: 'conflux', user: { name: 'bob' } });
    expect(lines[0]).not.toContain('p4ssw0rd!');
    expect(lines[0]).not.toContain('tok-123');
  });
});

describe('errors in log lines', () => {
  const capture = () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    return { lines, logger: createLogger('info', sink) };
  };

  it('redacts a connection string in an error message, stack, cause and properties, however it is logged', () => {
    const { lines, logger } = capture();
    const cause = new Error('password authentication failed for postgres://svc:cause-secret@db:5432/t');
    const error = Object.assign(
      new Error('connect to postgres://admin:hunter22@db:5432/tenant_a failed', { cause }),
      { detail: 'Key (url)=(postgresql://bob:detail-secret@h/x) already exists.' },
    );
    logger.warn({ err: error }, 'step failed');
    logger.error({ error }, 'subscription failed');
    logger.error(error);
    logger.warn({ err: { message: 'plain object with postgres://u:plain-secret@h/db' } }, 'lost');
    expect(lines).toHaveLength(4);
    for (const line of lines)
      for (const secret of ['hunter22', 'cause-secret', 'detail-secret', 'plain-secret'])
        expect(line).not.toContain(secret);
    const first = JSON.parse(lines[0]);
    expect(first.err.message).toContain('postgres://[redacted]@db:5432/tenant_a');
    expect(first.err.stack).toContain('postgres://[redacted]@db:5432/tenant_a');
    expect(first.err.type).toBe('Error');
    expect(JSON.parse(lines[1]).error.message).toContain('[redacted]@');
    expect(JSON.parse(lines[2]).err.message).toContain('[redacted]@');
  });
});
