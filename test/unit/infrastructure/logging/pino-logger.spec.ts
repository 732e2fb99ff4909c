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
