import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { OBJECT_STORAGE, type ObjectStorage } from '../../application/ports/object-storage.port.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { LocalObjectStorage } from './local-object-storage.js';
import { S3ObjectStorage } from './s3-object-storage.js';

/** The port the server really listens on (PORT=0 picks one). */
const listeningPort = (host: HttpAdapterHost): number | undefined => {
  const address = (host.httpAdapter?.getHttpServer() as Server | undefined)?.address();
  return typeof address === 'object' && address ? address.port : undefined;
};

/**
 * Multipart uploads (S3) and temporary files (local) older than this at start-up were left by a killed
 * process: they are removed. Younger ones may belong to another instance's write in progress.
 */
const STALE_WRITE_MS = 60 * 60_000;

/**
 * Object storage for provider results and report files: local disk under DATA_DIR/objects (STORAGE=local,
 * the default) or an S3-compatible bucket (STORAGE=s3, created when missing).
 */
@Global()
@Module({
  providers: [
    {
      provide: OBJECT_STORAGE,
      inject: [APP_CONFIG, HttpAdapterHost],
      useFactory: async (config: AppConfig, http: HttpAdapterHost): Promise<ObjectStorage> => {
        if (config.storage === 's3') {
          const s3 = new S3ObjectStorage({
            // S3_BUCKET is required with STORAGE=s3 (checked by the config).
            bucket: config.s3.bucket ?? '',
            endpoint: config.s3.endpoint,
            region: config.s3.region,
            forcePathStyle: config.s3.forcePathStyle,
            credentials: config.s3.credentials,
          });
          await s3.ensureBucket();
          await s3.abortStaleUploads(new Date(Date.now() - STALE_WRITE_MS));
          return s3;
        }
        const local = new LocalObjectStorage({
          rootDir: `${config.dataDir}/objects`,
          // A key of its own, derived from the JWT secret: a download signature can never pass as a token.
          secret: createHmac('sha256', config.secrets.jwtSecret).update('conflux:download-urls').digest(),
          publicBaseUrl: () => config.publicUrl ?? `http://localhost:${listeningPort(http) ?? config.port}`,
        });
        await local.sweepTemporaryFiles(new Date(Date.now() - STALE_WRITE_MS));
        return local;
      },
    },
  ],
  exports: [OBJECT_STORAGE],
})
export class StorageModule implements OnApplicationShutdown {
  constructor(@Inject(OBJECT_STORAGE) private readonly storage: ObjectStorage) {}

  onApplicationShutdown(): void {
    if (this.storage instanceof S3ObjectStorage) this.storage.destroy();
  }
}
