import { Module } from '@nestjs/common';
import { WebhookDeliveryModule } from '../../../infrastructure/webhooks/webhook-delivery.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { WebhooksController } from './webhooks.controller.js';

/** The webhook feature: its routes, and delivery (fan-out subscription, queue, worker). */
@Module({
  imports: [AuthModule, WebhookDeliveryModule],
  controllers: [WebhooksController],
})
export class WebhookModule {}
