import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Inject, Injectable } from '@nestjs/common';
import { UsernameTaken } from '../../domain/user/user.errors.js';
import { PASSWORD_HASHER, type PasswordHasher } from '../ports/password-hasher.port.js';
import { TENANT_DATABASES, type TenantDatabases } from '../ports/tenant-databases.port.js';
import { User, type UserRole } from './user.entity.js';

export type NewUser = Readonly<{ username: string; password: string; taxId: string | null; role: UserRole }>;

/** What the API shows of a user: never the password or its hash. */
export type UserView = Readonly<{
  id: string;
  tenantId: string;
  username: string;
  taxId: string | null;
  role: UserRole;
}>;

export const toUserView = (tenantId: string, user: User): UserView => ({
  id: user.id,
  tenantId,
  username: user.username,
  taxId: user.taxId ?? null,
  role: user.role,
});

@Injectable()
export class UsersService {
  constructor(
    @Inject(TENANT_DATABASES) private readonly databases: TenantDatabases,
    @Inject(PASSWORD_HASHER) private readonly hasher: PasswordHasher,
  ) {}

  async create(tenantId: string, input: NewUser): Promise<UserView> {
    const user = await this.databases.transactional(tenantId, (em) => this.add(em, input));
    return toUserView(tenantId, user);
  }

  /** Adds a user within the caller's unit of work (tenant creation seeds its admin this way). */
  async add(em: EntityManager, input: NewUser): Promise<User> {
    const user = em.create(User, {
      id: randomUUID(),
      username: input.username,
      passwordHash: await this.hasher.hash(input.password),
      taxId: input.taxId,
      role: input.role,
      createdAt: new Date(),
    });
    try {
      await em.flush();
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) throw new UsernameTaken(input.username);
      throw error;
    }
    return user;
  }
}
