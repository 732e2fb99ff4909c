// Runs before every test file: quiet logs unless asked for.
process.env.NODE_ENV ??= 'test';
process.env.LOG_LEVEL ??= 'silent';
