import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

/** The parts of an OpenAPI 3.1 document this checker reads. */
type OpenApiDocument = Readonly<{
  openapi: string;
  paths: Record<string, Record<string, Operation | undefined>>;
  components?: { schemas?: Record<string, unknown> };
}>;

type Operation = Readonly<{
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> } | undefined>;
}>;

type Route = Readonly<{ template: string; pattern: RegExp; methods: Record<string, Operation | undefined> }>;

const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']);

/** `/v1/reports/{id}/files/{name}` → a regex matching one concrete path segment per parameter. */
const patternOf = (template: string): RegExp =>
  new RegExp(
    `^${template
      .split(/\{[^}]+\}/)
      .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
      .join('[^/]+')}$`,
  );

/** The media type without parameters: `application/json; charset=utf-8` → `application/json`. */
const mediaTypeOf = (contentType: string | null): string | undefined =>
  contentType?.split(';')[0]?.trim().toLowerCase() || undefined;

/**
 * Checks a response against the OpenAPI document the app serves: the operation exists, the status is
 * documented (or a `default` response is), the media type is one of those documented, and a JSON body
 * satisfies the documented schema (JSON Schema 2020-12, as OpenAPI 3.1 uses). Returns the violations;
 * an empty list means the response is what the contract promises.
 */
export class OpenApiContract {
  private readonly routes: Route[];
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<object, ValidateFunction>();

  constructor(private readonly document: OpenApiDocument) {
    // Literal segments before parameters: `/v1/reports/{id}` must not swallow `/v1/reports/search`.
    this.routes = Object.entries(document.paths)
      .map(([template, methods]) => ({ template, pattern: patternOf(template), methods }))
      .sort((a, b) => a.template.split('{').length - b.template.split('{').length);
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats.default(this.ajv);
    this.ajv.addSchema({ $id: 'openapi', components: document.components ?? {} });
  }

  static async load(baseUrl: string): Promise<OpenApiContract> {
    const response = await fetch(`${baseUrl}/docs/openapi.json`);
    if (!response.ok) throw new Error(`GET /docs/openapi.json answered ${response.status}`);
    return new OpenApiContract((await response.json()) as OpenApiDocument);
  }

  /** The path template and operation a concrete request lands on, if the document has one. */
  operationOf(method: string, path: string): { template: string; operation: Operation } | undefined {
    const bare = path.split('?')[0] ?? path;
    const route = this.routes.find((r) => r.pattern.test(bare));
    const operation = route?.methods[method.toLowerCase()];
    return route && operation ? { template: route.template, operation } : undefined;
  }

  /**
   * Rules beyond the document's operations, each from HTTP itself rather than from this API:
   * - a request no operation serves is conforming when it is answered 404 (no such path) or 405 (no such
   *   method) as problem+json — the body still has to be a problem;
   * - OPTIONS on any path is answered by the server (204 with `Allow`, RFC 9110 §9.3.7), not an operation;
   * - HEAD is GET without a body (RFC 9110 §9.3.2): checked against the GET operation's statuses.
   */
  check(
    method: string,
    path: string,
    response: Readonly<{ status: number; contentType: string | null; body: unknown; text: string }>,
  ): string[] {
    const verb = method.toUpperCase();
    const where = `${verb} ${path.split('?')[0]} → ${response.status}`;
    if (verb === 'OPTIONS' && response.status === 204)
      return response.text.length === 0 ? [] : [`${where}: OPTIONS answered with a body`];
    const found = this.operationOf(verb === 'HEAD' ? 'GET' : verb, path);
    if (!found) {
      if (response.status === 404 || response.status === 405 || response.status >= 500)
        return this.checkAgainst(where, this.problemResponse(), response, verb);
      return [`${where}: no such operation in the OpenAPI document`];
    }
    const responses = found.operation.responses ?? {};
    const documented =
      responses[String(response.status)] ?? responses[`${String(response.status)[0]}XX`] ?? responses.default;
    if (!documented) return [`${where}: status not documented for ${found.template}`];
    return this.checkAgainst(where, documented, response, verb);
  }

  /** The problem+json answer every operation documents for 4XX (the same for paths no operation serves). */
  private problemResponse(): { content?: Record<string, { schema?: unknown }> } {
    return { content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
  }

  private checkAgainst(
    where: string,
    documented: { content?: Record<string, { schema?: unknown }> },
    response: Readonly<{ status: number; contentType: string | null; body: unknown; text: string }>,
    verb: string,
  ): string[] {
    const content = documented.content;
    const mediaType = mediaTypeOf(response.contentType);
    if (!content || Object.keys(content).length === 0)
      return response.text.length === 0 || response.status === 302
        ? []
        : [`${where}: documented without a body, but one was sent (${mediaType})`];
    // HEAD has no body; its Content-Type is GET's.
    if (verb === 'HEAD' && response.text.length === 0 && !mediaType) return [];
    // Exact media type first, then a documented range (`text/*`, `*/*`), as content negotiation does.
    const key =
      mediaType === undefined
        ? undefined
        : [mediaType, `${mediaType.split('/')[0]}/*`, '*/*'].find((k) => content[k] !== undefined);
    if (!mediaType || !key)
      return [`${where}: media type ${mediaType} not among ${Object.keys(content).join(', ')}`];
    const schema = content[key]?.schema;
    if (!schema || !key.endsWith('json') || verb === 'HEAD') return [];
    if (response.body === undefined) return [`${where}: ${key} documented, but the body is not JSON`];
    const validate = this.validatorOf(schema);
    if (validate(response.body)) return [];
    return (validate.errors ?? []).map(
      (e) => `${where}: body${e.instancePath} ${e.message ?? 'is invalid'} (${JSON.stringify(e.params)})`,
    );
  }

  /** Every operation's JSON schemas compiled once: a schema ajv rejects is a broken document. */
  compileAll(): string[] {
    const failures: string[] = [];
    for (const [template, methods] of Object.entries(this.document.paths))
      for (const [method, operation] of Object.entries(methods)) {
        if (!METHODS.has(method) || !operation) continue;
        for (const [status, response] of Object.entries(operation.responses ?? {}))
          for (const [mediaType, { schema }] of Object.entries(response?.content ?? {}))
            if (schema && mediaType.endsWith('json'))
              try {
                this.validatorOf(schema);
              } catch (error) {
                failures.push(`${method.toUpperCase()} ${template} ${status} ${mediaType}: ${String(error)}`);
              }
      }
    return failures;
  }

  private validatorOf(schema: object): ValidateFunction {
    let validate = this.validators.get(schema);
    if (!validate) {
      // Component references (`#/components/schemas/X`) resolve against the document's components.
      const rewritten = JSON.parse(
        JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/'),
      ) as object;
      validate = this.ajv.compile(rewritten);
      this.validators.set(schema, validate);
    }
    return validate;
  }

  /** Every documented `METHOD template` pair (for a test that proves each route was exercised). */
  operations(): string[] {
    return Object.entries(this.document.paths).flatMap(([template, methods]) =>
      Object.keys(methods)
        .filter((m) => METHODS.has(m))
        .map((m) => `${m.toUpperCase()} ${template}`),
    );
  }
}
