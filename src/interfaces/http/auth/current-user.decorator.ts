import { createParamDecorator, type ExecutionContext, UnauthorizedException } from '@nestjs/common';
import type { Request } from 'express';
import type { AuthUser } from '../../../application/auth/auth-user.js';

export type { AuthUser } from '../../../application/auth/auth-user.js';

/** The verified caller `{ userId, tenantId, role }` of an authenticated route. */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext): AuthUser => {
  const user = context.switchToHttp().getRequest<Request & { user?: AuthUser }>().user;
  if (!user) throw new UnauthorizedException('Missing or invalid access token.');
  return user;
});
