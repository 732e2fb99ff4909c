import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import { Global, Module } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { OBJECT_STORAGE } from '../../application/ports/object-storage.port.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { LocalObjectStorage } from './local-object-storage.js';

/** The port the server really listens on (PORT=0 picks one). */
const listeningPort = (host: HttpAdapterHost): number | undefined => {
  const address = (host.httpAdapter?.getHttpServer() as Server | undefined)?.address();
  return typeof address === 'object' && address ? address.port : undefined;
};

/** Object storage for provider results and report files: local disk under DATA_DIR/objects (S3 comes next). */
@Global()
@Module({
  providers: [
    {
      provide: LocalObjectStorage,
      inject: [APP_CONFIG, HttpAdapterHost],
      useFactory: (config: AppConfig, http: HttpAdapterHost) => {
        if (config.storage !== 'local')
          throw new Error(`STORAGE=${config.storage} has no adapter yet; use STORAGE=local`);
        return new LocalObjectStorage({
          rootDir: `${config.dataDir}/objects`,
          // A key of its own, derived from the JWT secret: a download signature can never pass as a token.
          secret: createHmac('sha256', config.secrets.jwtSecret).update('conflux:download-urls').digest(),
          publicBaseUrl: () => config.publicUrl ?? `http://localhost:${listeningPort(http) ?? config.port}`,
        });
      },
    },
    { provide: OBJECT_STORAGE, useExisting: LocalObjectStorage },
  ],
  exports: [LocalObjectStorage, OBJECT_STORAGE],
})
export class StorageModule {}
