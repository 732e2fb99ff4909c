import { type ExecutionContext, HttpException, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { IS_OPERATOR_ONLY } from './operator-only.decorator.js';
import { IS_PUBLIC } from './public.decorator.js';
import { ALLOW_QUERY_TOKEN } from './query-token.decorator.js';
import { QUERY_TOKEN_ALLOWED } from './jwt.strategy.js';

/**
 * The global guard: every route needs a valid user token unless it is `@Public()`, or `@OperatorOnly()`
 * (whose own guard checks the operator token). Secure by default: a new route is protected.
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(private readonly reflector: Reflector) {
    super();
  }

  override canActivate(context: ExecutionContext) {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    if (this.reflector.getAllAndOverride<boolean>(IS_OPERATOR_ONLY, targets)) return true;
    if (this.reflector.getAllAndOverride<boolean>(ALLOW_QUERY_TOKEN, targets))
      context.switchToHttp().getRequest<Record<symbol, unknown>>()[QUERY_TOKEN_ALLOWED] = true;
    return super.canActivate(context);
  }

  override handleRequest<TUser>(error: unknown, user: TUser | false): TUser {
    if (error instanceof HttpException) throw error;
    if (error) throw new UnauthorizedException('Invalid access token.');
    if (!user) throw new UnauthorizedException('Missing or invalid access token.');
    return user;
  }
}
