import { Body, Controller, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { type UserView, UsersService } from '../../../application/user/users.service.js';
import { type AuthUser, CurrentUser } from '../auth/current-user.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { ZodValidationPipe } from '../problem/validation.js';
import { createUserBody } from './user.schemas.js';

@ApiTags('users')
@ApiBearerAuth()
@Controller('v1/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  /** Tenant admins add users to their own tenant — the one in their token, never one named in the body. */
  @Post()
  @Roles('admin')
  create(
    @CurrentUser() caller: AuthUser,
    @Body(new ZodValidationPipe(createUserBody)) body: z.output<typeof createUserBody>,
  ): Promise<UserView> {
    return this.users.create(caller.tenantId, body);
  }
}
