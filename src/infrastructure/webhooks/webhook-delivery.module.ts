import { Module } from '@nestjs/common';
import { SECRET_CIPHER } from '../../application/ports/secret-cipher.port.js';
import { WEBHOOK_QUEUE } from '../../application/ports/webhook-queue.port.js';
import { WEBHOOK_TRANSPORT } from '../../application/ports/webhook-transport.port.js';
import { WebhookDeliveryWorker } from '../../application/webhook/webhook-delivery.worker.js';
import { WebhookFanOutSubscriber } from '../../application/webhook/webhook-fan-out.subscriber.js';
import { WEBHOOK_OPTIONS, webhookOptions } from '../../application/webhook/webhook-options.js';
import { WebhooksService } from '../../application/webhook/webhooks.service.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { PostgresScheduledWork } from '../scheduling/postgres-scheduled-work.js';
import { CONTROL_DATABASE, type ControlDatabase } from '../tenancy/control-database.js';
import { CredentialCipher } from '../tenancy/credential-cipher.js';
import { HttpWebhookTransport } from './http-webhook-transport.js';
import { PostgresWebhookQueue } from './postgres-webhook-queue.js';

/**
 * Webhooks without HTTP routes: endpoints and their log (tenant databases), the fan-out subscription,
 * the delivery queue (the scheduled-work table, queue `webhook`) and its worker, the guarded transport.
 */
@Module({
  providers: [
    {
      provide: WEBHOOK_QUEUE,
      inject: [CONTROL_DATABASE],
      useFactory: async (control: ControlDatabase) => {
        // The table is the report process's; migrating it is idempotent, whichever module starts first.
        await new PostgresScheduledWork(control.pool).migrate();
        return new PostgresWebhookQueue(control.pool);
      },
    },
    {
      provide: SECRET_CIPHER,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new CredentialCipher(config.secrets.masterKey),
    },
    {
      provide: WEBHOOK_TRANSPORT,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        new HttpWebhookTransport({ allowPrivateNetworks: config.webhooks.allowPrivateNetworks }),
    },
    {
      provide: WEBHOOK_OPTIONS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => webhookOptions(config.webhooks),
    },
    WebhooksService,
    WebhookDeliveryWorker,
    WebhookFanOutSubscriber,
  ],
  exports: [WebhooksService],
})
export class WebhookDeliveryModule {}
