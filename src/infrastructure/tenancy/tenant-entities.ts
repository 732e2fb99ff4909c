import { IdempotencyKey } from '../../application/report/idempotency-key.entity.js';
import { ProjectionCheckpoint, ReportView } from '../../application/report/projections/report-view.entity.js';
import { User } from '../../application/user/user.entity.js';
import { WebhookAttempt, WebhookEndpoint } from '../../application/webhook/webhook.entities.js';

/**
 * Every entity mapped in a tenant database. A feature appends its entities here and the tables they need
 * to `tenantMigrations` (tenant-migrations.ts); nothing else has to change.
 */
export const tenantEntities = [
  User,
  ReportView,
  ProjectionCheckpoint,
  IdempotencyKey,
  WebhookEndpoint,
  WebhookAttempt,
];
