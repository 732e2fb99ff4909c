import 'reflect-metadata';
import { Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Readable } from 'node:stream';
import {
  PROVIDER_REGISTRY,
  type PollResult,
  type ProviderAdapter,
  type ProviderRegistry,
  UnknownProviderError,
} from '../../../src/application/ports/provider.port.js';
import {
  type RunningProviderSimulator,
  simulatorProviderUrls,
  startProviderSimulator,
} from '../../../src/infrastructure/provider-simulator/provider-simulator.js';
import { BankTransactionsProvider } from '../../../src/infrastructure/providers/bank-transactions.provider.js';
import { ProviderPlugin } from '../../../src/infrastructure/providers/provider-plugin.decorator.js';
import { ProvidersModule } from '../../../src/infrastructure/providers/providers.module.js';
import { ProvidersController } from '../../../src/interfaces/http/providers/providers.controller.js';

const THE_THREE = [
  { name: 'bank-transactions', description: expect.stringMatching(/transaction/i), version: '1.0.0' },
  { name: 'credit-bureau', description: expect.stringMatching(/credit score/i), version: '1.0.0' },
  { name: 'tax-authority', description: expect.stringMatching(/tax/i), version: '1.0.0' },
];

let sim: RunningProviderSimulator;
beforeAll(async () => {
  sim = await startProviderSimulator({ port: 0, transactions: 300, latencyMs: 50, seed: 1 });
});
afterAll(() => sim.close());

describe('ProvidersModule', () => {
  let app: INestApplication;
  afterEach(() => app?.close());

  it('discovers exactly the three provider plugins with their metadata and serves GET /v1/providers', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ProvidersModule.forRoot(simulatorProviderUrls(sim.url))],
      controllers: [ProvidersController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');

    const registry = app.get<ProviderRegistry>(PROVIDER_REGISTRY);
    expect(registry.list()).toEqual(THE_THREE);
    expect(registry.get('bank-transactions')).toBeInstanceOf(BankTransactionsProvider);
    expect(registry.get('credit-bureau').name).toBe('credit-bureau');
    expect(() => registry.get('nope' as never)).toThrow(UnknownProviderError);

    const res = await fetch(`${await app.getUrl()}/v1/providers`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: THE_THREE });
  });

  it('hands out adapters wired to the configured URLs (forRootAsync)', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ProvidersModule.forRootAsync({ useFactory: async () => simulatorProviderUrls(sim.url) })],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const credit = app.get<ProviderRegistry>(PROVIDER_REGISTRY).get('credit-bureau');
    const { jobId } = await credit.submit({
      subject: { taxId: 'NEST-1' },
      period: { from: '2024-01-01', to: '2024-03-31' },
    });
    // The simulator knows the job it was given: wired to it. (Which state depends on how long the machine
    // took since the submit: the simulated latency is 50 ms.)
    expect(['processing', 'done']).toContain((await credit.poll(jobId)).status);
  });

  it('discovers plugins in any module, so a second plugin for one provider stops start-up', async () => {
    @ProviderPlugin({ name: 'tax-authority', description: 'A fake tax authority', version: '9.9.9' })
    class FakeTax implements ProviderAdapter {
      readonly name = 'tax-authority' as const;
      async submit() {
        return { jobId: 'fake' };
      }
      async poll(): Promise<PollResult> {
        return { status: 'done' };
      }
      async openResult() {
        return Readable.from(['{"filings":[]}\n']);
      }
    }
    @Module({ providers: [FakeTax] })
    class FakeModule {}
    const withDuplicate = await Test.createTestingModule({
      imports: [ProvidersModule.forRoot(simulatorProviderUrls(sim.url)), FakeModule],
    }).compile();
    app = withDuplicate.createNestApplication({ logger: false });
    await expect(app.init()).rejects.toThrow(/Two provider plugins are named tax-authority/);
  });

  it('refuses a plugin whose metadata disagrees with the adapter', async () => {
    @ProviderPlugin({ name: 'credit-bureau', description: 'mislabelled', version: '1.0.0' })
    class Mislabelled {
      readonly name = 'bank-transactions';
      async submit() {
        return { jobId: 'x' };
      }
      async poll() {
        return { status: 'done' };
      }
      async openResult() {
        return Readable.from([]);
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [ProvidersModule.forRoot(simulatorProviderUrls(sim.url))],
      providers: [Mislabelled],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await expect(app.init()).rejects.toThrow(
      /metadata says credit-bureau but the adapter's name is bank-transactions/,
    );
  });
});
