import {
  simulatorProviderUrls,
  startProviderSimulator,
} from '../../infrastructure/provider-simulator/provider-simulator.js';

/**
 * `npm run simulate:providers`: the provider simulator on its own, configured by SIM_PORT, SIM_TRANSACTIONS,
 * SIM_LATENCY_MS, SIM_SEED (api.md) and SIM_HOST (default 127.0.0.1; 0.0.0.0 to reach it from containers).
 * Reads only its own variables, so it starts without any of Conflux's secrets or databases.
 */
const intFromEnv = (name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    console.error(`${name} must be an integer between 0 and ${max}, got "${raw}"`);
    process.exit(2);
  }
  return value;
};

const simulator = await startProviderSimulator({
  port: intFromEnv('SIM_PORT', 4010, 65535),
  transactions: intFromEnv('SIM_TRANSACTIONS', 2000),
  latencyMs: intFromEnv('SIM_LATENCY_MS', 3000),
  seed: intFromEnv('SIM_SEED', 1),
  host: process.env.SIM_HOST || '127.0.0.1',
});

console.log(`Provider simulator listening on ${simulator.url}`);
for (const [name, url] of Object.entries(simulatorProviderUrls(simulator.url)))
  console.log(`  ${name}: ${url}`);

const stop = (signal: NodeJS.Signals): void => {
  console.log(`${signal}: stopping the provider simulator`);
  simulator.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
