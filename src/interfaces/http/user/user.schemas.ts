import { z } from 'zod';
import { queryInteger } from '../problem/query-input.js';

export const username = z
  .string()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .regex(/^[A-Za-z0-9._@+-]+$/, 'may contain letters, digits and . _ @ + -');

export const password = z
  .string()
  .min(8, 'must be at least 8 characters')
  .max(1024, 'must be at most 1024 characters');

/** The same shape as a report subject's tax ID. */
export const taxId = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be 1–64 letters, digits or dashes');

export const role = z.enum(['member', 'admin']);

export const createUserBody = z.object({
  username,
  password,
  taxId,
  role: role.default('member'),
});

/** GET /v1/users: the same cursor pagination as GET /v1/reports. */
export const listUsersQuery = z.object({
  limit: queryInteger(1, 100, 20),
  startingAfter: z.string().min(1, 'must not be empty').max(64, 'must be at most 64 characters').optional(),
});

/**
 * PATCH /v1/users/:id — `{ taxId, role }`, at least one; a tax ID set here is verified. Any other member is
 * refused (400 "Unknown field"): a merge patch whose member cannot be applied must not answer 200 as if it
 * had been (`{"role":"member","taxid":"X-1"}` would leave the tax ID unverified while the admin believes
 * it set).
 */
export const updateUserBody = z
  .strictObject({ taxId: taxId.optional(), role: role.optional() })
  .refine((b) => b.taxId !== undefined || b.role !== undefined, {
    message: 'give taxId, role or both',
    path: ['taxId'],
  });

/** A user as the API shows it (api.md "User create"): never the password or its hash. */
export const userViewSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  username: z.string(),
  taxId: z.string().nullable(),
  taxIdVerified: z.boolean(),
  role,
});

/** GET /v1/users: newest first, cursor pagination. */
export const userPageSchema = z.object({ data: z.array(userViewSchema), hasMore: z.boolean() });
