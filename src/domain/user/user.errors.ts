import { DomainError } from '../shared/decider.js';

export class UsernameTaken extends DomainError {
  constructor(username: string) {
    super('username_taken', `Username ${username} is already taken in this tenant.`);
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
