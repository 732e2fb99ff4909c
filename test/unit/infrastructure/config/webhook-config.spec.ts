import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseDurations } from '../../../../src/infrastructure/config/app-config.js';

describe('webhook configuration', () => {
  let dataDir: string;
  beforeEach(() => (dataDir = mkdtempSync(join(tmpdir(), 'conflux-config-'))));
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('parses durations in ms, s, m and h', () => {
    expect(parseDurations('5s,5m,30m,2h')).toEqual([5_000, 300_000, 1_800_000, 7_200_000]);
    expect(parseDurations(' 100ms , 1.5s ')).toEqual([100, 1_500]);
    expect(parseDurations('')).toEqual([]);
    expect(parseDurations('5x')).toBeNull();
    expect(parseDurations('-5s')).toBeNull();
    expect(parseDurations('5')).toBeNull();
  });

  it('defaults to api.md: private networks refused, 5s,5m,30m,2h,5h,10h,10h', () => {
    const config = loadConfig({ DATA_DIR: dataDir });
    expect(config.webhooks).toEqual({
      allowPrivateNetworks: false,
      retryScheduleMs: [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000],
      concurrency: 16,
    });
  });

  it('refuses a schedule it cannot read, naming the variable', () => {
    expect(() => loadConfig({ DATA_DIR: dataDir, WEBHOOK_RETRY_SCHEDULE: '5s,soon' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATA_DIR: dataDir, WEBHOOK_RETRY_SCHEDULE: '5s,soon' })).toThrow(
      /WEBHOOK_RETRY_SCHEDULE/,
    );
    expect(
      loadConfig({ DATA_DIR: dataDir, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }).webhooks.allowPrivateNetworks,
    ).toBe(true);
  });
});
