import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { z } from 'zod';
import { AuthService } from '../../../application/auth/auth.service.js';
import type { UserView } from '../../../application/user/users.service.js';
import { ZodValidationPipe } from '../problem/validation.js';
import { ApiJsonBody, ApiJsonResponse } from '../openapi/openapi.js';
import { password, taxId, username, userViewSchema } from '../user/user.schemas.js';
import { Public } from './public.decorator.js';

const tenantId = z.string().min(1, 'must not be empty').max(64, 'must be at most 64 characters');

// Login checks nothing beyond presence: rules on existing values would only tell an attacker what exists.
const loginBody = z.object({
  tenantId,
  username: z.string().min(1, 'must not be empty').max(256),
  password: z.string().min(1, 'must not be empty').max(1024),
});

const signupBody = z.object({ tenantId, username, password, taxId });

/** api.md "Login": the access token, sent with `Cache-Control: no-store`. */
const issuedTokenSchema = z.object({
  accessToken: z.string(),
  tokenType: z.literal('Bearer'),
  expiresIn: z.number().int().positive().describe('Seconds until the token expires'),
});

@ApiTags('auth')
@Public()
@Controller('v1/auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('login')
  @HttpCode(200)
  @ApiJsonBody(loginBody)
  @ApiJsonResponse(200, issuedTokenSchema, 'An access token')
  login(
    @Body(new ZodValidationPipe(loginBody)) body: z.output<typeof loginBody>,
    @Req() req: Request,
  ): Promise<z.infer<typeof issuedTokenSchema>> {
    // The socket's address unless Express is told to trust a proxy (`trust proxy`); never a raw header a
    // client could forge to escape the per-address limit.
    return this.auth.login(body, { address: req.ip ?? req.socket.remoteAddress ?? 'unknown' });
  }

  @Post('signup')
  @ApiJsonBody(signupBody)
  @ApiJsonResponse(201, userViewSchema, 'The user created (an unverified tax ID)')
  signup(@Body(new ZodValidationPipe(signupBody)) body: z.output<typeof signupBody>): Promise<UserView> {
    return this.auth.signup(body);
  }
}
