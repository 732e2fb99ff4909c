import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

export type UserRole = 'member' | 'admin';
export const USER_ROLES = ['member', 'admin'] as const satisfies readonly UserRole[];

/**
 * A person who signs in to one tenant. Lives in that tenant's database (table `users`). Usernames are
 * unique ignoring case (index on lower(username), migration 0003); look users up with `findUserByName`.
 */
export const User = defineEntity({
  name: 'User',
  tableName: 'users',
  properties: {
    id: p.uuid().primary(),
    username: p.string().unique(),
    // Never serialised: `hidden` keeps it out of toObject()/JSON even if an entity leaks into a response.
    passwordHash: p.string().hidden(),
    // Tenant admins created with the tenant may have none; report requests must then name a subject.
    taxId: p.string().nullable(),
    // True only when a tenant admin set the tax ID (create or PATCH): anyone can type anyone's tax ID at
    // sign-up, so a member's reports need a verified one (api.md, Bodies).
    taxIdVerified: p.boolean().default(false),
    role: p.enum(USER_ROLES),
    createdAt: p.datetime(),
  },
});

export type User = InferEntity<typeof User>;
