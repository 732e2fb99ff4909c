import { defineEntity, p } from '@mikro-orm/core';

/**
 * Idempotency-Key records (IETF draft): scoped by user within the tenant's database, kept 24 h.
 * `completedAt` null = the first request is still in flight (or crashed: taken over after a short grace).
 */
export const IdempotencyKeySchema = defineEntity({
  name: 'IdempotencyKey',
  tableName: 'idempotency_keys',
  properties: {
    /** `{userId}:{key}` */
    id: p.string().primary(),
    requestHash: p.string(),
    reportId: p.string(),
    createdAt: p.datetime(),
    completedAt: p.datetime().nullable(),
  },
});

export class IdempotencyKey extends IdempotencyKeySchema.class {}
IdempotencyKeySchema.setClass(IdempotencyKey);

/** How long a key is remembered (documented in the README). */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60_000;
/** An in-flight record older than this belongs to a request that died: a retry takes it over. */
export const IDEMPOTENCY_IN_FLIGHT_GRACE_MS = 30_000;
