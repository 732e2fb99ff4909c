import { defineEntity, p } from '@mikro-orm/core';
import type { Report } from '../../../domain/report/report.decider.js';

/**
 * The reports read model, one row per report in the tenant's own database. `state` is the decider's
 * folded state (the projection runs the same `evolve` as the write side); the other columns serve queries.
 */
export const ReportViewSchema = defineEntity({
  name: 'ReportView',
  tableName: 'reports',
  properties: {
    id: p.string().primary(),
    requestedBy: p.string().index(),
    status: p.string(),
    /** Revision of the last event applied: a re-delivered event is skipped. */
    version: p.integer(),
    state: p.json<Report>(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});

export class ReportView extends ReportViewSchema.class {}
ReportViewSchema.setClass(ReportView);

/** A tenant-database projection's checkpoint, written in the same transaction as its read model. */
export const ProjectionCheckpointSchema = defineEntity({
  name: 'ProjectionCheckpoint',
  tableName: 'projection_checkpoints',
  properties: {
    name: p.string().primary(),
    checkpoint: p.string(),
    updatedAt: p.datetime(),
  },
});

export class ProjectionCheckpoint extends ProjectionCheckpointSchema.class {}
ProjectionCheckpointSchema.setClass(ProjectionCheckpoint);
