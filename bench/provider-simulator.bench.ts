import { get } from 'node:http';
import { startProviderSimulator } from '../src/infrastructure/provider-simulator/provider-simulator.js';
import { type Benchmark, median, withPeakRss } from './support.js';

const ROWS = Number(process.env.BENCH_SIMULATOR_ROWS ?? 1_000_000);
const RUNS = 3;

/** Reads the whole body, counting newlines natively (indexOf), so the reader costs little next to the server. */
const countLines = (url: string): Promise<{ lines: number; bytes: number }> =>
  new Promise((resolve, reject) => {
    get(url, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`result answered ${res.statusCode}`));
      let lines = 0;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
      });
      res.on('end', () => resolve({ lines, bytes }));
      res.on('error', reject);
    }).on('error', reject);
  });

/**
 * `simulator.ndjson.rate`: rows/s the simulator streams for one bank result of ROWS transactions, read by
 * a client in the same process (so a lower bound: in Conflux the reader also shares the process).
 */
export const benchmarks: Benchmark[] = [
  {
    name: 'simulator.ndjson',
    figures: ['simulator.ndjson.rate'],
    run: async () => {
      const sim = await startProviderSimulator({ port: 0, transactions: ROWS, latencyMs: 0, seed: 1 });
      try {
        const submitted = await fetch(`${sim.url}/bank-transactions/jobs`, {
          method: 'POST',
          body: JSON.stringify({
            subject: { taxId: 'BENCH-1' },
            period: { from: '2024-01-01', to: '2024-12-31' },
          }),
        });
        const { jobId } = (await submitted.json()) as { jobId: string };
        const url = `${sim.url}/bank-transactions/jobs/${jobId}/result`;
        const rates: number[] = [];
        let bytes = 0;
        let peakRssMb = 0;
        for (let run = 0; run < RUNS; run++) {
          const started = performance.now();
          const { result, peakRssMb: peak } = await withPeakRss(() => countLines(url));
          const seconds = (performance.now() - started) / 1000;
          if (result.lines !== ROWS) throw new Error(`expected ${ROWS} rows, streamed ${result.lines}`);
          rates.push(Math.round(ROWS / seconds));
          bytes = result.bytes;
          peakRssMb = Math.max(peakRssMb, peak);
        }
        return [
          {
            name: 'simulator.ndjson.rate',
            value: median(rates),
            unit: 'rows/s',
            rows: ROWS,
            runs: rates,
            bytes,
            mbPerSecond: Math.round((median(rates) * bytes) / ROWS / 1e6),
            peakRssMb,
          },
        ];
      } finally {
        await sim.close();
      }
    },
  },
];
