import { createHash, timingSafeEqual } from 'node:crypto';
import { Controller, Get, Inject, NotFoundException, Req, Res, UnauthorizedException } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { APP_CONFIG, type AppConfig } from '../../../infrastructure/config/app-config.js';
import { PrometheusMetrics } from '../../../infrastructure/observability/prometheus-metrics.js';
import { bearerToken } from '../auth/operator-token.guard.js';
import { Public } from '../auth/public.decorator.js';
import { ApiBareResponse } from '../openapi/openapi.js';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * GET /metrics, Prometheus text on the app's own port (api.md): with METRICS_TOKEN set, that bearer token
 * only (compared as SHA-256 digests in constant time); unset, open in development and test, and 404 in
 * production — a production deployment exposes metrics only by choosing a token (ADR 0022).
 */
@ApiTags('metrics')
@ApiBearerAuth('metrics')
@Public()
@Controller('metrics')
export class MetricsController {
  private readonly expected: Buffer | undefined;
  private readonly open: boolean;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly metrics: PrometheusMetrics,
  ) {
    this.expected = config.metrics.token === undefined ? undefined : digest(config.metrics.token);
    this.open = config.env !== 'production';
  }

  @Get()
  @ApiBareResponse(
    200,
    'Prometheus text exposition (series: docs/operations.md). 401 without the METRICS_TOKEN when one is set; 404 in production without one',
    'text/plain',
  )
  async scrape(@Req() req: Request, @Res() res: Response): Promise<void> {
    if (this.expected) {
      const token = bearerToken(req);
      if (token === undefined || !timingSafeEqual(digest(token), this.expected))
        throw new UnauthorizedException('Missing or invalid metrics token.');
    } else if (!this.open) throw new NotFoundException(`Cannot GET ${req.path}`);
    const text = await this.metrics.scrape();
    res.setHeader('Cache-Control', 'no-store');
    res.type(this.metrics.contentType).send(text);
  }
}
