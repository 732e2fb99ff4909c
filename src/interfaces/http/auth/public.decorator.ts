import { SetMetadata } from '@nestjs/common';

/** Marks a route (or controller) as open to requests without a token; the global auth guard honours it. */
export const IS_PUBLIC = 'isPublic';
export const Public = () => SetMetadata(IS_PUBLIC, true);
