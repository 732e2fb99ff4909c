import type { AuthUser } from '../../../application/auth/auth-user.js';
import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Request, Response } from 'express';
import { ApiBearerAuth, ApiHeader, ApiQuery, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { CLOCK, type Clock } from '../../../application/ports/clock.port.js';
import { OBJECT_STORAGE, type ObjectStorage } from '../../../application/ports/object-storage.port.js';
import { TRACING, type Tracing } from '../../../application/ports/tracing.port.js';
import { CancelReportRequest } from '../../../application/report/commands/cancel-report.handler.js';
import { RequestNewReport } from '../../../application/report/commands/request-report.handler.js';
import { ReportQueries } from '../../../application/report/queries/report.queries.js';
import { FileNotFound, FilesExpired } from '../../../application/report/report-access.js';
import {
  filesExpired,
  reportResourceSchema,
  toReportResource,
  type ReportResource,
} from '../../../application/report/report-resource.js';
import { periodViolations, utcDate } from '../../../domain/report/period.js';
import type { Report } from '../../../domain/report/report.decider.js';
import { isFinal } from '../../../domain/report/report.decider.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { AllowQueryToken } from '../auth/query-token.decorator.js';
import {
  ApiBareResponse,
  ApiJsonBody,
  ApiJsonResponse,
  ApiPathParams,
  ApiQueryFrom,
  openApiSchema,
} from '../openapi/openapi.js';
import { queryInteger } from '../problem/query-input.js';
import { text } from '../problem/text-input.js';
import { ValidationFailed, ZodValidationPipe, parse } from '../problem/validation.js';
import { REPORT_HTTP_OPTIONS, type ReportHttpOptions } from './report-http.options.js';
import { ReportEventStream } from './report-event-stream.js';

// The shape only; the calendar and the rest of the period rule are the domain's (`periodViolations`).
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD');

const requestSchema = z
  .strictObject({
    subject: z
      .strictObject({
        taxId: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be 1–64 letters, digits or dashes'),
      })
      .optional(),
    period: z.strictObject({ from: isoDate, to: isoDate }).optional(),
  })
  .optional()
  .transform((b) => b ?? {});

const listSchema = z.strictObject({
  limit: queryInteger(1, 100, 20),
  startingAfter: text(100).min(1).optional(),
});

// IETF Idempotency-Key draft: a String structured field, i.e. printable ASCII.
const idempotencyKey = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x20-\x7e]+$/, 'must be printable ASCII')
  .optional();

/** W3C Trace Context: a malformed `traceparent` is ignored (never stored), as the recommendation says. */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

const reportId = { id: z.string() };
const reportPage = z.object({ data: z.array(reportResourceSchema), hasMore: z.boolean() });
const RETRY_AFTER_DOC = 'Seconds until the report is worth reading again; sent while it is not final';

/** While a report is not final, clients are told when to look again (Stripe/Shopify-style async resources). */
const RETRY_AFTER_SECONDS = '2';

@ApiTags('reports')
@ApiBearerAuth()
@Controller('v1/reports')
export class ReportsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: ReportQueries,
    private readonly events: ReportEventStream,
    @Inject(OBJECT_STORAGE) private readonly storage: ObjectStorage,
    @Inject(REPORT_HTTP_OPTIONS) private readonly options: ReportHttpOptions,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(TRACING) private readonly tracing: Tracing,
  ) {}

  @Post()
  @HttpCode(202)
  @ApiJsonBody(requestSchema, false)
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'Same key and body within 24 h: the same report',
    schema: openApiSchema(idempotencyKey, 'input'),
  })
  @ApiHeader({
    name: 'traceparent',
    required: false,
    description: 'W3C Trace Context; a malformed value is ignored',
  })
  @ApiJsonResponse(202, reportResourceSchema, 'Accepted; `Location` names the report', {
    Location: 'The report: `/v1/reports/{id}`',
    'Retry-After': RETRY_AFTER_DOC,
  })
  async request(
    @CurrentUser() caller: AuthUser,
    @Body(new ZodValidationPipe(requestSchema)) body: z.output<typeof requestSchema>,
    @Headers('idempotency-key') rawKey: string | undefined,
    @Headers('traceparent') traceparent: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ReportResource> {
    const key = parse(idempotencyKey, rawKey, 'Idempotency-Key');
    if (body.period) {
      const today = utcDate(this.clock.now());
      const violations = periodViolations(body.period, today);
      if (violations.length > 0)
        throw new ValidationFailed(
          violations.map((v) => ({ field: `period.${v.field}`, message: v.message })),
        );
    }
    // With tracing on, the request's own span (a child of any incoming traceparent): later steps of the
    // report continue this trace. Off, the caller's traceparent is kept for whoever traces downstream.
    const trace =
      this.tracing.activeTraceparent() ??
      (traceparent && TRACEPARENT.test(traceparent) ? traceparent : undefined);
    const report = await this.commands.execute(new RequestNewReport(caller, body, key, trace));
    res.setHeader('Location', `/v1/reports/${report.id}`);
    return this.resource(report, res);
  }

  @Get()
  @ApiQueryFrom(listSchema)
  @ApiJsonResponse(200, reportPage, 'A page of reports, newest first')
  async list(
    @CurrentUser() caller: AuthUser,
    @Query(new ZodValidationPipe(listSchema)) query: z.output<typeof listSchema>,
  ): Promise<{ data: ReportResource[]; hasMore: boolean }> {
    const page = await this.queries.list(caller, query.limit, query.startingAfter);
    return { data: await Promise.all(page.data.map((r) => this.resource(r))), hasMore: page.hasMore };
  }

  @Get(':id')
  @ApiPathParams(reportId)
  @ApiJsonResponse(200, reportResourceSchema, 'The report', { 'Retry-After': RETRY_AFTER_DOC })
  async get(
    @CurrentUser() caller: AuthUser,
    @Param('id') id: string,
    @Res({ passthrough: true }) res: Response,
  ) {
    return this.resource(await this.queries.current(caller, id), res);
  }

  @Post(':id/cancel')
  @HttpCode(202)
  @ApiPathParams(reportId)
  @ApiJsonResponse(202, reportResourceSchema, 'Cancellation accepted (409 if the report is already final)', {
    'Retry-After': RETRY_AFTER_DOC,
  })
  async cancel(
    @CurrentUser() caller: AuthUser,
    @Param('id') id: string,
    @Res({ passthrough: true }) res: Response,
  ) {
    return this.resource(await this.commands.execute(new CancelReportRequest(caller, id)), res);
  }

  /** 302 to a signed URL that works without credentials until it expires. */
  @Get(':id/files/:name')
  @ApiPathParams({ ...reportId, name: z.string() })
  @ApiBareResponse(302, 'To a signed URL that works without credentials until it expires', undefined, {
    Location: 'The signed download URL',
  })
  async file(
    @CurrentUser() caller: AuthUser,
    @Param('id') id: string,
    @Param('name') name: string,
    @Res() res: Response,
  ) {
    const report = await this.queries.current(caller, id);
    if (report.status === 'ready' && filesExpired(report, Date.now())) throw new FilesExpired(name);
    const file = report.status === 'ready' ? report.files.find((f) => f.name === name) : undefined;
    if (!file) throw new FileNotFound(name);
    const signed = await this.storage.signedDownloadUrl(file.key, {
      fileName: file.name,
      contentType: file.contentType,
      expiresInSeconds: this.options.downloadUrlTtlSeconds,
    });
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, signed.url);
  }

  /** Server-sent events: `progress` with the report, then `ready`, `failed` or `cancelled`. */
  @Get(':id/events')
  @AllowQueryToken()
  @ApiPathParams(reportId)
  @ApiHeader({
    name: 'Last-Event-ID',
    required: false,
    description: 'Resume after this event (EventSource sends it on reconnect)',
  })
  @ApiQuery({
    name: 'lastEventId',
    required: false,
    schema: { type: 'string' },
    description: 'The same as the Last-Event-ID header, for clients that cannot set headers',
  })
  @ApiQuery({
    name: 'access_token',
    required: false,
    schema: { type: 'string' },
    description: 'The access token, for EventSource (which cannot send Authorization)',
  })
  @ApiBareResponse(
    200,
    'Server-sent events: `progress` (data: the report), then one of `ready`, `failed`, `cancelled`',
    'text/event-stream',
  )
  @ApiBareResponse(204, 'The client already has the final revision (Last-Event-ID): EventSource stops')
  async stream(
    @CurrentUser() caller: AuthUser,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
  ) {
    const report = await this.queries.current(caller, id);
    const lastEventId =
      req.header('last-event-id') ??
      (typeof req.query.lastEventId === 'string' ? req.query.lastEventId : undefined);
    await this.events.stream(report, lastEventId, res, (r) => this.resource(r));
  }

  private async resource(report: Report, res?: Response): Promise<ReportResource> {
    if (res && !isFinal(report.status)) res.setHeader('Retry-After', RETRY_AFTER_SECONDS);
    return toReportResource(report, this.storage, this.options.downloadUrlTtlSeconds);
  }
}
