// Real servers on a shared 2-core machine: a generous limit per test, so load makes a test slow, not red.
// (`import.meta.jest` is Jest's object in native-ESM test files.)
(import.meta as ImportMeta & { jest: typeof jest }).jest.setTimeout(
  Number(process.env.TEST_TIMEOUT_MS ?? 60_000),
);
