import { randomUUID } from 'node:crypto';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Inject, Injectable } from '@nestjs/common';
import { LastAdmin, UserNotFound, UsernameTaken } from '../../domain/user/user.errors.js';
import { usernameKey } from '../../domain/user/username.js';
import { PASSWORD_HASHER, type PasswordHasher } from '../ports/password-hasher.port.js';
import { TENANT_DATABASES, type TenantDatabases } from '../ports/tenant-databases.port.js';
import { User, type UserRole } from './user.entity.js';

export type NewUser = Readonly<{
  username: string;
  password: string;
  taxId: string | null;
  role: UserRole;
  /**
   * True when a tenant admin (or the operator) vouches for the tax ID; sign-up passes false. Unset means
   * false: a tax ID is unverified unless someone with authority said otherwise.
   */
  taxIdVerified?: boolean;
}>;

/** PATCH /v1/users/:id: a tax ID set here is verified (it comes from a tenant admin). */
export type UserChange = Readonly<{ taxId?: string; role?: UserRole }>;

/** What the API shows of a user: never the password or its hash. */
export type UserView = Readonly<{
  id: string;
  tenantId: string;
  username: string;
  taxId: string | null;
  taxIdVerified: boolean;
  role: UserRole;
}>;

export type UserPage = Readonly<{ data: UserView[]; hasMore: boolean }>;

export const toUserView = (tenantId: string, user: User): UserView => ({
  id: user.id,
  tenantId,
  username: user.username,
  taxId: user.taxId ?? null,
  taxIdVerified: user.taxId ? user.taxIdVerified : false,
  role: user.role,
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The user a login name means, ignoring case (usernames are unique ignoring case since tenant migration
 * 0003) as `usernameKey` folds it — the same folding the login throttle keys on. Pairs that differed only in case before it (`legacy_case_duplicate`) are kept: the exact
 * spelling wins, otherwise the oldest of the group (the one the unique index covers).
 */
export const findUserByName = async (em: EntityManager, username: string): Promise<User | null> => {
  const rows = await em.execute<Record<string, unknown>[]>(
    `SELECT * FROM users WHERE lower(username) = ?
     ORDER BY (username = ?) DESC, legacy_case_duplicate, created_at, id LIMIT 1`,
    [usernameKey(username), username],
  );
  return rows[0] ? em.map(User, rows[0]) : null;
};

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
    // Checked first so the common conflict costs no hash; the unique index on lower(username) still
    // decides a race between two creates.
    if (await findUserByName(em, input.username)) throw new UsernameTaken(input.username);
    const user = em.create(User, {
      id: randomUUID(),
      username: input.username,
      passwordHash: await this.hasher.hash(input.password),
      taxId: input.taxId,
      taxIdVerified: input.taxId !== null && input.taxIdVerified === true,
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

  /** Newest first, `limit` of them; `startingAfter` is a user id of this tenant (else UserNotFound). */
  async list(tenantId: string, limit: number, startingAfter?: string): Promise<UserPage> {
    const em = await this.databases.em(tenantId);
    let cursor = {};
    if (startingAfter !== undefined) {
      const after = UUID.test(startingAfter) ? await em.findOne(User, { id: startingAfter }) : null;
      if (!after) throw new UserNotFound(startingAfter);
      cursor = {
        $or: [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, id: { $lt: after.id } }],
      };
    }
    const rows = await em.find(User, cursor, {
      orderBy: { createdAt: 'desc', id: 'desc' },
      limit: limit + 1,
    });
    return { data: rows.slice(0, limit).map((u) => toUserView(tenantId, u)), hasMore: rows.length > limit };
  }

  /**
   * A tenant admin changes a user of their own tenant: a tax ID set here is verified; a role change that
   * would leave no admin is refused (LastAdmin). Another tenant's user id is simply not found here (each
   * tenant has its own database). Takes effect at once: report requests and admin routes read the role
   * and the tax ID from this table, not from the token.
   */
  async update(tenantId: string, userId: string, change: UserChange): Promise<UserView> {
    if (!UUID.test(userId)) throw new UserNotFound(userId);
    const user = await this.databases.transactional(tenantId, async (em) => {
      const found = await em.findOne(User, { id: userId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!found) throw new UserNotFound(userId);
      if (change.taxId !== undefined) {
        found.taxId = change.taxId;
        found.taxIdVerified = true;
      }
      if (change.role !== undefined && change.role !== found.role) {
        if (found.role === 'admin') {
          // Serialise concurrent demotions: each counts the admins while holding every admin row.
          const admins = await em.find(User, { role: 'admin' }, { lockMode: LockMode.PESSIMISTIC_WRITE });
          if (admins.length <= 1) throw new LastAdmin();
        }
        found.role = change.role;
      }
      await em.flush();
      return found;
    });
    return toUserView(tenantId, user);
  }
}
