import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import {
  convertHere,
  InvalidProviderDataError,
  TransactionsToCsv,
} from '../../../src/application/report/generate-report-files.js';
import { TransactionsCsvThreads } from '../../../src/application/report/transactions-csv-threads.js';
import { emptySummary, finishSummary } from '../../../src/domain/report/report-summary.js';

/**
 * Large bank results are converted by worker threads in slices (transactions-csv.worker.ts) and taken in
 * order: the CSV, the row count, the figures and the errors must be those of the conversion on the calling
 * thread, wherever slices and read chunks fall. The worker runs from the TypeScript sources here
 * (test/support/typescript-worker.mjs).
 */
const period = { from: '2024-01-01', to: '2024-03-31' };
const context = {
  subject: { taxId: 'T-1' },
  period,
  generatedAt: '2025-01-01T00:00:00.000Z',
  credit: null,
  taxFilings: [],
};
const workerEntry = new URL('../../../src/application/report/transactions-csv.worker.ts', import.meta.url);
const bootstrap = new URL('../../support/typescript-worker.mjs', import.meta.url);

const awkward = [
  '{"id":"usd-first","date":"2024-01-01","amount":-3.5,"currency":"USD","accountId":"a","description":"d","counterparty":"c","category":"x"}',
  '{"id":"out-before","date":"2023-12-31","amount":1,"currency":"EUR"}',
  '{"id":"no-date","date":"2024-02-30","amount":1,"currency":"EUR"}',
  '{"id":"huge","date":"2024-01-01","amount":1e21,"currency":"EUR"}',
  '{"date":"2024-01-01","amount":1,"currency":"EUR"}',
  '{"id":"n1","date":"2024-01-01","amount":-5,"currency":"EUR","description":null,"category":"misc"}',
  '{"id":"=f","date":"2024-01-02","amount":0.125,"currency":"EUR","description":"=HYPERLINK(\\"x\\")","counterparty":"  +1","category":"＝x","accountId":7}',
  '{"id":"u","date":"2024-03-01","amount":-1.005,"currency":"EUR","description":"Épicerie ✓ 😀, \\"q\\"","counterparty":"a\\r\\nb","category":"k"}',
  '',
  '\r',
];
const rows = (count: number) =>
  Array.from({ length: count }, (_, i) => {
    const line =
      i % 50 === 0
        ? awkward[((i / 50) % awkward.length) | 0]
        : JSON.stringify({
            id: `t${i}`,
            date: `2024-0${1 + (i % 3)}-1${i % 10}`,
            amount: -((i % 977) + 0.99),
            currency: i % 400 === 399 ? 'GBP' : 'EUR',
            accountId: 'acc-1',
            description: `Café ✓ №${i}, "x"`,
            counterparty: 'Shop',
            category: `c${i % 7}`,
          });
    return line + (i % 3 === 0 ? '\r\n' : '\n');
  }).join('');

/** `ndjson` in read chunks of `chunkBytes`, through TransactionsToCsv: the CSV bytes, rows and summary. */
const convert = async (ndjson: string, chunkBytes: number, threads?: TransactionsCsvThreads) => {
  const bytes = Buffer.from(ndjson);
  const chunks = Array.from({ length: Math.ceil(bytes.length / chunkBytes) }, (_, i) =>
    bytes.subarray(i * chunkBytes, (i + 1) * chunkBytes),
  );
  const summary = emptySummary();
  const csv = threads
    ? new TransactionsToCsv(summary, 'bank.ndjson', (slice) => threads.convert(slice), {
        sliceBytes: 4096,
        inFlight: 2 * threads.size,
      })
    : new TransactionsToCsv(summary, 'bank.ndjson', convertHere(period));
  const [out] = await Promise.all([buffer(csv), pipeline(Readable.from(chunks), csv)]);
  return { csv: out, rows: csv.rows, summary: finishSummary(summary, context) };
};

const withThreads = async <T>(work: (threads: TransactionsCsvThreads) => Promise<T>): Promise<T> => {
  const threads = TransactionsCsvThreads.open(2, period, bootstrap, {
    workerData: { entry: workerEntry.href },
  });
  if (!threads) throw new Error('no thread available');
  try {
    return await work(threads);
  } finally {
    await threads.close();
  }
};

describe('TransactionsToCsv in worker threads', () => {
  it.each([997, 64 * 1024])(
    'given a result of awkward rows read in %i-byte chunks, when converted by two threads in slices, then CSV, rows and summary are those of one thread',
    async (chunkBytes) => {
      const ndjson = rows(3000);
      const here = await convert(ndjson, chunkBytes);
      const threaded = await withThreads((threads) => convert(ndjson, chunkBytes, threads));
      expect(threaded.rows).toBe(here.rows);
      expect(threaded.csv.equals(here.csv)).toBe(true);
      expect(threaded.summary).toEqual(here.summary);
      // The first currency read is the report's, even though the threads see slices in any order.
      expect(threaded.summary.currency).toBe('USD');
      expect(threaded.summary.otherCurrencies.map((c) => c.currency)).toEqual(['EUR', 'GBP']);
      expect(threaded.summary.rejected.count).toBeGreaterThan(0);
    },
  );

  it('given a line that is not a JSON object deep in the result, when converted by threads, then it fails naming that line', async () => {
    const ndjson = rows(2000) + '[1,2]\n' + rows(2000);
    await expect(convert(ndjson, 997)).rejects.toThrow('bank.ndjson, line 2001: not a JSON object');
    await withThreads(async (threads) => {
      const failure = convert(ndjson, 997, threads);
      await expect(failure).rejects.toThrow(InvalidProviderDataError);
      await expect(failure).rejects.toThrow('bank.ndjson, line 2001: not a JSON object');
    });
  });

  it('given one endless line after good rows, when converted by threads, then it fails naming that line', async () => {
    const ndjson = rows(100) + `[${'{"id":"x"},'.repeat(200_000)}`;
    await expect(convert(ndjson, 64 * 1024)).rejects.toThrow('bank.ndjson, line 101: line longer than 1 MiB');
    await withThreads((threads) =>
      expect(convert(ndjson, 64 * 1024, threads)).rejects.toThrow(
        'bank.ndjson, line 101: line longer than 1 MiB',
      ),
    );
  });
});
