import type { OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import type { Logger } from '../../application/ports/logger.port.js';
import { redactSecrets } from '../logging/pino-logger.js';

/** The control-plane PostgreSQL (DATABASE_URL): the tenant registry lives here. */
export const CONTROL_DATABASE = Symbol('ControlDatabase');

export class ControlDatabase implements OnApplicationShutdown {
  readonly pool: pg.Pool;
  private ended: Promise<void> | undefined;

  constructor(url: string, logger: Logger) {
    this.pool = new pg.Pool({ connectionString: url, max: 10, idleTimeoutMillis: 30_000 });
    // An idle client dropped by the server emits 'error' on the pool; unhandled, it would kill the process.
    this.pool.on('error', (error) =>
      logger.warn({ err: { message: redactSecrets(error.message) } }, 'control database connection lost'),
    );
  }

  /** Readiness: a round trip to the server. */
  async ping(signal?: AbortSignal): Promise<void> {
    const client = await this.pool.connect();
    try {
      signal?.throwIfAborted();
      await client.query('SELECT 1');
    } finally {
      client.release();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.ended ??= this.pool.end();
    await this.ended;
  }
}
