import { Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { z } from 'zod';
import type { AuthUser } from '../../../application/auth/auth-user.js';
import { TENANT_DIRECTORY, type TenantDirectory } from '../../../application/ports/tenant-directory.port.js';
import { APP_CONFIG, type AppConfig } from '../../../infrastructure/config/app-config.js';

/** Set on the request by the JWT guard when the route allows `?access_token=`. */
export const QUERY_TOKEN_ALLOWED = Symbol('queryTokenAllowed');
type AuthRequest = Request & { [QUERY_TOKEN_ALLOWED]?: boolean };

const fromHeader = ExtractJwt.fromAuthHeaderAsBearerToken();
const fromQuery = ExtractJwt.fromUrlQueryParameter('access_token');

const claims = z.object({
  sub: z.string().min(1),
  tid: z.string().min(1),
  role: z.enum(['member', 'admin']),
});

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(TENANT_DIRECTORY) private readonly tenants: TenantDirectory,
  ) {
    super({
      jwtFromRequest: (request: AuthRequest) =>
        fromHeader(request) ?? (request[QUERY_TOKEN_ALLOWED] ? fromQuery(request) : null),
      secretOrKey: config.secrets.jwtSecret,
      algorithms: ['HS256'],
      ignoreExpiration: false,
    });
  }

  /** A signature is not enough: the tenant must still exist and be active (a removed tenant's tokens die with it). */
  async validate(payload: unknown): Promise<AuthUser> {
    const parsed = claims.safeParse(payload);
    if (!parsed.success) throw new UnauthorizedException('Invalid access token.');
    const tenant = await this.tenants.find(parsed.data.tid);
    if (tenant?.status !== 'active')
      throw new UnauthorizedException('The tenant of this token is not active.');
    return { userId: parsed.data.sub, tenantId: parsed.data.tid, role: parsed.data.role };
  }
}
