import {
  applyDecorators,
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Injectable,
  SetMetadata,
  UseGuards,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { AuthUser } from '../../../application/auth/auth-user.js';
import type { UserRole } from '../../../application/user/user.entity.js';

export const ROLES = 'roles';

/** Lets through callers whose role is one of `@Roles(...)`; everyone else authenticated gets 403. */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const roles = this.reflector.getAllAndOverride<UserRole[] | undefined>(ROLES, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!roles || roles.length === 0) return true;
    const user = context.switchToHttp().getRequest<Request & { user?: AuthUser }>().user;
    if (!user || !roles.includes(user.role))
      throw new ForbiddenException(`This action needs the role ${roles.join(' or ')}.`);
    return true;
  }
}

/** `@Roles('admin')` on a route or controller: only those roles (runs after the global JWT guard). */
export const Roles = (...roles: UserRole[]) =>
  applyDecorators(SetMetadata(ROLES, roles), UseGuards(RolesGuard));
