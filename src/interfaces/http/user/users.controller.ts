import { Body, Controller, Get, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { type UserPage, type UserView, UsersService } from '../../../application/user/users.service.js';
import { type AuthUser, CurrentUser } from '../auth/current-user.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { z } from 'zod';
import { ApiJsonBody, ApiJsonResponse, ApiPathParams, ApiQueryFrom } from '../openapi/openapi.js';
import { ZodValidationPipe } from '../problem/validation.js';
import {
  createUserBody,
  listUsersQuery,
  updateUserBody,
  userPageSchema,
  userViewSchema,
} from './user.schemas.js';

/** Tenant admins manage the users of their own tenant — the one in their token, never one named in a body. */
@ApiTags('users')
@ApiBearerAuth()
@Roles('admin')
@Controller('v1/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  /** A tax ID given here comes from a tenant admin: it is verified. */
  @Post()
  @ApiJsonBody(createUserBody)
  @ApiJsonResponse(201, userViewSchema, 'The user created')
  create(
    @CurrentUser() caller: AuthUser,
    @Body(new ZodValidationPipe(createUserBody)) body: z.output<typeof createUserBody>,
  ): Promise<UserView> {
    return this.users.create(caller.tenantId, { ...body, taxIdVerified: true });
  }

  /** Newest first: `{ data: [user], hasMore }`, `?limit=` 1–100 (20), `?startingAfter=<user id>`. */
  @Get()
  @ApiQueryFrom(listUsersQuery)
  @ApiJsonResponse(200, userPageSchema, 'A page of users, newest first')
  list(
    @CurrentUser() caller: AuthUser,
    @Query(new ZodValidationPipe(listUsersQuery)) query: z.output<typeof listUsersQuery>,
  ): Promise<UserPage> {
    return this.users.list(caller.tenantId, query.limit, query.startingAfter);
  }

  /** `{ taxId?, role? }`: sets (and verifies) the tax ID, changes the role. 404 outside the caller's tenant. */
  @Patch(':id')
  @ApiPathParams({ id: z.string() })
  @ApiJsonBody(updateUserBody)
  @ApiJsonResponse(200, userViewSchema, 'The user changed')
  update(
    @CurrentUser() caller: AuthUser,
    @Param('id') id: string,
    @Body(new ZodValidationPipe(updateUserBody)) body: z.output<typeof updateUserBody>,
  ): Promise<UserView> {
    return this.users.update(caller.tenantId, id, body);
  }
}
