import { Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller.js';

/** GET /metrics; the metrics themselves come from the global ObservabilityModule. */
@Module({ controllers: [MetricsController] })
export class MetricsModule {}
