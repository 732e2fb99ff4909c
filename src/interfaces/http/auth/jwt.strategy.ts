import { createSecretKey } from 'node:crypto';
import { Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { z } from 'zod';
import type { AuthUser } from '../../../application/auth/auth-user.js';
import { TENANT_DIRECTORY, type TenantDirectory } from '../../../application/ports/tenant-directory.port.js';
import { APP_CONFIG, type AppConfig } from '../../../infrastructure/config/app-config.js';
import { TenantStatusCache } from './tenant-status-cache.js';

/** Set on the request by the JWT guard when the route allows `?access_token=`. */
export const QUERY_TOKEN_ALLOWED = Symbol('queryTokenAllowed');
type AuthRequest = Request & { [QUERY_TOKEN_ALLOWED]?: boolean };

const fromHeader = ExtractJwt.fromAuthHeaderAsBearerToken();
const fromQuery = ExtractJwt.fromUrlQueryParameter('access_token');

// The shapes this service issues (user ids are UUIDs, tenant ids `^[a-z][a-z0-9]{1,30}$`): a correctly
// signed token carrying anything else is refused here (401), not at the database (a 500 on `uuid` input).
const claims = z.object({
  sub: z.uuid(),
  tid: z.string().regex(/^[a-z][a-z0-9]{1,30}$/),
  role: z.enum(['member', 'admin']),
  // jsonwebtoken checks `exp` only when present: a signed token without one would never expire.
  exp: z.number().int(),
});

/** Clock skew tolerated between the instance that signed a token and the one checking it. */
const CLOCK_SKEW_SECONDS = 60;

/**
 * True when `exp` (seconds since the epoch) lies within what this service issues: at most JWT_TTL_SECONDS
 * (plus skew) from now. A correctly signed token living longer did not come from `JwtAccessTokens`
 * (or the TTL was lowered since): refused. jsonwebtoken has already refused an `exp` in the past.
 */
export const expiresWithinTtl = (exp: number, ttlSeconds: number, nowMs: number): boolean =>
  exp <= Math.floor(nowMs / 1000) + ttlSeconds + CLOCK_SKEW_SECONDS;

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  private readonly tenantStatus: TenantStatusCache;
  private readonly ttlSeconds: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig, @Inject(TENANT_DIRECTORY) tenants: TenantDirectory) {
    super({
      jwtFromRequest: (request: AuthRequest) =>
        fromHeader(request) ?? (request[QUERY_TOKEN_ALLOWED] ? fromQuery(request) : null),
      // Given a string, jsonwebtoken builds a key on every verify (trying a public key first, which throws).
      // It accepts a KeyObject as is (jsonwebtoken 9 `verify`); passport-jwt passes the value through
      // untouched, only its typings say string | Buffer.
      secretOrKey: createSecretKey(Buffer.from(config.secrets.jwtSecret)) as unknown as Buffer,
      algorithms: ['HS256'],
      ignoreExpiration: false,
    });
    // A disabled tenant's tokens stop working within TENANT_STATUS_CACHE_MS; most requests skip the lookup.
    this.tenantStatus = new TenantStatusCache(tenants, { ttlMs: config.tenantStatusCacheMs });
    this.ttlSeconds = config.jwtTtlSeconds;
  }

  /**
   * A signature is not enough: the token must expire (`exp`, no later than JWT_TTL_SECONDS from now), and
   * the tenant must still exist and be active (a removed tenant's tokens die with it, at the latest
   * TENANT_STATUS_CACHE_MS later).
   */
  async validate(payload: unknown): Promise<AuthUser> {
    const parsed = claims.safeParse(payload);
    if (!parsed.success || !expiresWithinTtl(parsed.data.exp, this.ttlSeconds, Date.now()))
      throw new UnauthorizedException('Invalid access token.');
    if ((await this.tenantStatus.status(parsed.data.tid)) !== 'active')
      throw new UnauthorizedException('The tenant of this token is not active.');
    return { userId: parsed.data.sub, tenantId: parsed.data.tid, role: parsed.data.role };
  }
}
