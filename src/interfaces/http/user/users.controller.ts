import { Body, Controller, Get, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { type UserPage, type UserView, UsersService } from '../../../application/user/users.service.js';
import { type AuthUser, CurrentUser } from '../auth/current-user.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { ZodValidationPipe } from '../problem/validation.js';
import { createUserBody, listUsersQuery, updateUserBody } from './user.schemas.js';

/** Tenant admins manage the users of their own tenant — the one in their token, never one named in a body. */
@ApiTags('users')
@ApiBearerAuth()
@Roles('admin')
@Controller('v1/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  /** A tax ID given here comes from a tenant admin: it is verified. */
  @Post()
  create(
    @CurrentUser() caller: AuthUser,
    @Body(new ZodValidationPipe(createUserBody)) body: z.output<typeof createUserBody>,
  ): Promise<UserView> {
    return this.users.create(caller.tenantId, { ...body, taxIdVerified: true });
  }

  /** Newest first: `{ data: [user], hasMore }`, `?limit=` 1–100 (20), `?startingAfter=<user id>`. */
  @Get()
  list(
    @CurrentUser() caller: AuthUser,
    @Query(new ZodValidationPipe(listUsersQuery)) query: z.output<typeof listUsersQuery>,
  ): Promise<UserPage> {
    return this.users.list(caller.tenantId, query.limit, query.startingAfter);
  }

  /** `{ taxId?, role? }`: sets (and verifies) the tax ID, changes the role. 404 outside the caller's tenant. */
  @Patch(':id')
  update(
    @CurrentUser() caller: AuthUser,
    @Param('id') id: string,
    @Body(new ZodValidationPipe(updateUserBody)) body: z.output<typeof updateUserBody>,
  ): Promise<UserView> {
    return this.users.update(caller.tenantId, id, body);
  }
}
