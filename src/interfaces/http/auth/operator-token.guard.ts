import { createHash, timingSafeEqual } from 'node:crypto';
import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import type { Request } from 'express';
import { APP_CONFIG, type AppConfig } from '../../../infrastructure/config/app-config.js';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

export const bearerToken = (request: Request): string | undefined => {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  return match?.[1];
};

/**
 * Operator endpoints take `Authorization: Bearer <OPERATOR_TOKEN>`. Compared as SHA-256 digests with
 * `timingSafeEqual`: constant time, and the length of the token does not leak either.
 */
@Injectable()
export class OperatorTokenGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly jwt: JwtService,
  ) {
    this.expected = digest(config.secrets.operatorToken);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const token = bearerToken(context.switchToHttp().getRequest<Request>());
    if (token !== undefined && timingSafeEqual(digest(token), this.expected)) return true;
    // A valid user token is a known caller without the right: 403, not 401.
    if (token !== undefined && (await this.isUserToken(token)))
      throw new ForbiddenException('This endpoint is for the operator only.');
    throw new UnauthorizedException('Missing or invalid operator token.');
  }

  private async isUserToken(token: string): Promise<boolean> {
    try {
      await this.jwt.verifyAsync(token);
      return true;
    } catch {
      return false;
    }
  }
}
