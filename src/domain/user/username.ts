/**
 * The one form of a login name that everything comparing names uses — the user lookup (usernames are
 * unique ignoring case) and the login throttle's per-user key — so that every spelling that logs in as a
 * user counts against that user's throttle. Two foldings that disagree would let a spelling one of them
 * treats as another name in (`alİce`: PostgreSQL's `lower` folds U+0130 to `i` and finds `alice`, while
 * JavaScript's `toLowerCase` gives `i̇`, a fresh throttle key).
 * Pure: `(name) → string`; the lookup compares it with `lower(username)` of stored names, which the
 * username schema keeps to ASCII, where both foldings agree.
 */
export const usernameKey = (username: string): string => username.toLowerCase();
