import { applyDecorators } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import {
  ApiBody,
  ApiParam,
  ApiQuery,
  ApiResponse,
  DocumentBuilder,
  type OpenAPIObject,
  SwaggerModule,
} from '@nestjs/swagger';
import { z } from 'zod';
import { PROBLEM_CONTENT_TYPE } from '../problem/problem-details.js';

/**
 * OpenAPI 3.1 from the zod schemas that validate requests and shape responses: one source, so the
 * document and the code cannot drift. OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what
 * `z.toJSONSchema` emits.
 */
export const openApiSchema = (
  schema: z.ZodType,
  io: 'input' | 'output' = 'output',
): Record<string, unknown> => {
  const { $schema: _dialect, ...openApi } = z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  return openApi;
};

/** A JSON request body validated by `schema` (documented as the client sends it). */
export const ApiJsonBody = (schema: z.ZodType, required = true) =>
  ApiBody({ required, schema: openApiSchema(schema, 'input') });

/** Response headers worth a client's attention (`Location`, `Retry-After`), by name → description. */
export type ResponseHeaders = Readonly<Record<string, string>>;

const headersOf = (headers?: ResponseHeaders) =>
  headers
    ? {
        headers: Object.fromEntries(
          Object.entries(headers).map(([name, description]) => [
            name,
            { description, schema: { type: 'string' } },
          ]),
        ),
      }
    : {};

/** A JSON response of `status` shaped by `schema`. */
export const ApiJsonResponse = (
  status: number,
  schema: z.ZodType,
  description: string,
  headers?: ResponseHeaders,
) =>
  ApiResponse({
    status,
    description,
    content: { 'application/json': { schema: openApiSchema(schema) } },
    ...headersOf(headers),
  });

/** A response of `status` without a body (204, 302) or with a non-JSON one (`contentType`). */
export const ApiBareResponse = (
  status: number,
  description: string,
  contentType?: string,
  headers?: ResponseHeaders,
) =>
  ApiResponse({
    status,
    description,
    ...(contentType ? { content: { [contentType]: { schema: { type: 'string' } } } } : {}),
    ...headersOf(headers),
  });

/** Every key of a zod object schema of query parameters, as OpenAPI query parameters. */
export const ApiQueryFrom = (schema: z.ZodObject) =>
  applyDecorators(
    ...Object.entries(schema.shape).map(([name, field]) =>
      ApiQuery({
        name,
        required: !(field as z.ZodType).safeParse(undefined).success,
        schema: openApiSchema(field as z.ZodType, 'input'),
      }),
    ),
  );

/** Path parameters, each with its schema. */
export const ApiPathParams = (params: Record<string, z.ZodType>) =>
  applyDecorators(
    ...Object.entries(params).map(([name, schema]) =>
      ApiParam({ name, required: true, schema: openApiSchema(schema, 'input') }),
    ),
  );

/** RFC 9457 problem details, the body of every error. */
export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int().min(400).max(599),
    detail: z.string(),
    instance: z.string().optional(),
    code: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .loose();

const problemResponse = (description: string) => ({
  description,
  content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } },
});

/**
 * Builds the document: security schemes (user JWTs, the opaque operator token), then every operation
 * gets problem+json for 4XX and 5XX unless it documents its own.
 */
export const buildOpenApiDocument = (app: INestApplication, version: string): OpenAPIObject => {
  const config = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle('Conflux')
    .setDescription('Consolidated financial reports from slow external providers, per tenant.')
    .setVersion(version)
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: 'Access token from POST /v1/auth/login',
    })
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'OPERATOR_TOKEN (opaque)' }, 'operator')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN (opaque)' }, 'metrics')
    .build();
  // addBearerAuth fills in `bearerFormat: 'JWT'`; the operator token is an opaque string, not a JWT.
  for (const opaque of ['operator', 'metrics']) {
    const scheme = config.components?.securitySchemes?.[opaque];
    if (scheme && 'bearerFormat' in scheme) delete scheme.bearerFormat;
  }
  const document = SwaggerModule.createDocument(app, config);
  document.components ??= {};
  document.components.schemas = { ...document.components.schemas, Problem: openApiSchema(problemSchema) };
  for (const methods of Object.values(document.paths))
    for (const operation of Object.values(
      methods as Record<string, { responses?: Record<string, unknown> }>,
    )) {
      if (typeof operation !== 'object' || operation === null || !('responses' in operation)) continue;
      operation.responses ??= {};
      operation.responses['4XX'] ??= problemResponse('Client error (RFC 9457 problem details)');
      operation.responses['5XX'] ??= problemResponse(
        'Server error or unavailable (RFC 9457 problem details)',
      );
    }
  return document;
};
