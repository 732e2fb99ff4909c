import { DomainError } from '../shared/decider.js';

export class UsernameTaken extends DomainError {
  constructor(username: string) {
    super('username_taken', `Username ${username} is already taken in this tenant (usernames ignore case).`);
  }
}

/** One answer for unknown tenant, unknown user and wrong password: nothing to enumerate. */
export class InvalidCredentials extends DomainError {
  constructor() {
    super('invalid_credentials', 'Invalid tenant, username or password.');
  }
}

export class SignupDisabled extends DomainError {
  constructor() {
    super('signup_disabled', 'Self sign-up is not enabled for this tenant.');
  }
}

/**
 * Too many failed logins for this tenant+username or from this client address (429). Raised before the
 * password is checked, so even the right password is refused until `retryAfterSeconds` have passed.
 */
export class LoginLockedOut extends DomainError {
  constructor(readonly retryAfterSeconds: number) {
    super('login_locked_out', `Too many failed logins. Try again in ${retryAfterSeconds} s.`);
  }
}

/** Password checks are queued beyond capacity (a flood): 503 with Retry-After rather than an unbounded queue. */
export class AuthenticationBusy extends DomainError {
  readonly retryAfterSeconds = 1;
  constructor() {
    super('authentication_busy', 'Too many sign-ins are being checked right now. Try again shortly.');
  }
}

/** A user id that is not in the caller's tenant (or does not exist): 404, nothing to tell apart. */
export class UserNotFound extends DomainError {
  constructor(readonly userId: string) {
    super('user_not_found', `No user ${userId}`);
  }
}

/** A role change would leave the tenant without any admin. */
export class LastAdmin extends DomainError {
  constructor() {
    super('last_admin', 'The tenant must keep at least one admin.');
  }
}

/**
 * A member asked for a report on a tax ID that no tenant admin has verified (api.md: a tax ID given at
 * sign-up is unverified, anyone can type anyone's).
 */
export class TaxIdUnverified extends DomainError {
  constructor() {
    super(
      'tax_id_unverified',
      'Your tax ID is not verified yet: a tenant admin must confirm it before you can request reports.',
    );
  }
}
