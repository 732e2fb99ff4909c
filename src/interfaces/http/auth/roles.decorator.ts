import {
  applyDecorators,
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  SetMetadata,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { AuthUser } from '../../../application/auth/auth-user.js';
import { TENANT_DATABASES, type TenantDatabases } from '../../../application/ports/tenant-databases.port.js';
import { User, type UserRole } from '../../../application/user/user.entity.js';

export const ROLES = 'roles';

/**
 * Lets through callers whose role is one of `@Roles(...)`; everyone else authenticated gets 403. The role
 * must be in the token AND in the tenant database now: a user demoted by PATCH /v1/users/:id loses the
 * role at once, not when the token expires (else a demoted admin could promote themselves back). A
 * token whose user no longer exists gets 401 here, where the row is read anyway (no extra round trip).
 */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(TENANT_DATABASES) private readonly databases: TenantDatabases,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const roles = this.reflector.getAllAndOverride<UserRole[] | undefined>(ROLES, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!roles || roles.length === 0) return true;
    const user = context.switchToHttp().getRequest<Request & { user?: AuthUser }>().user;
    const refuse = () => new ForbiddenException(`This action needs the role ${roles.join(' or ')}.`);
    if (!user || !roles.includes(user.role)) throw refuse();
    const current = await (await this.databases.em(user.tenantId)).findOne(User, { id: user.userId });
    // A deleted user's token still verifies until it expires: the row read here says it is nobody's (401).
    if (!current) throw new UnauthorizedException('The user of this access token no longer exists.');
    if (!roles.includes(current.role)) throw refuse();
    return true;
  }
}

/** `@Roles('admin')` on a route or controller: only those roles (runs after the global JWT guard). */
export const Roles = (...roles: UserRole[]) =>
  applyDecorators(SetMetadata(ROLES, roles), UseGuards(RolesGuard));
