import { SetMetadata } from '@nestjs/common';

/**
 * Lets a route also accept the access token as `?access_token=` — for `EventSource`, which cannot send
 * headers. Only for such routes: a token in a URL ends up in histories and proxy logs.
 */
export const ALLOW_QUERY_TOKEN = 'allowQueryToken';
export const AllowQueryToken = () => SetMetadata(ALLOW_QUERY_TOKEN, true);
