import { z } from 'zod';
import { PROVIDER_NAMES } from '../../../domain/report/provider-data.js';

/** GET /v1/providers (api.md): `{ data: [{ name, description, version }] }`. */
export const providerListSchema = z.object({
  data: z.array(
    z.object({
      name: z.enum(PROVIDER_NAMES),
      description: z.string(),
      version: z.string(),
    }),
  ),
});

export type ProviderListResponse = z.infer<typeof providerListSchema>;
