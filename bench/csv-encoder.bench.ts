import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import { stringify as stringifySync } from 'csv-stringify/sync';
import { CSV_COLUMNS, csvField, formatCents } from '../src/application/report/generate-report-files.js';
import type { Transaction } from '../src/domain/report/provider-data.js';
import { median, type Benchmark, type Figure } from './support.js';
import { syntheticTransactions } from './synthetic-transactions.js';

/**
 * Why the file stage quotes CSV by hand: the same parsed rows encoded to the same RFC 4180 bytes by
 * csv-stringify's stream API (the seed's way), csv-stringify's sync API per batch of 1000 rows, and the
 * stage's own quoter. Parsing and I/O are left out, so the figures are the encoders' cost alone.
 */
const ROWS = 300_000;
const RUNS = 5;
const BATCH = 1000;

const fields = (tx: Transaction): string[] => [
  tx.id,
  tx.date,
  tx.accountId,
  formatCents(Math.round(tx.amount * 100)),
  tx.currency,
  tx.description,
  tx.counterparty,
  tx.category,
];

type Encoder = (rows: readonly Transaction[], sink: (text: string) => void) => Promise<void>;

const encoders: Record<string, Encoder> = {
  csv_stringify_stream: async (rows, sink) => {
    await pipeline(
      Readable.from(rows.map(fields)),
      stringify({ header: true, columns: [...CSV_COLUMNS], record_delimiter: 'windows' }),
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          sink(chunk.toString());
          done();
        },
      }),
    );
  },
  csv_stringify_sync: async (rows, sink) => {
    sink(`${CSV_COLUMNS.join(',')}\r\n`);
    for (let i = 0; i < rows.length; i += BATCH) {
      sink(stringifySync(rows.slice(i, i + BATCH).map(fields), { record_delimiter: 'windows' }));
    }
  },
  hand_quoter: async (rows, sink) => {
    sink(`${CSV_COLUMNS.join(',')}\r\n`);
    for (let i = 0; i < rows.length; i += BATCH) {
      let out = '';
      for (let j = i; j < Math.min(rows.length, i + BATCH); j++) {
        const tx = rows[j];
        out += `${csvField(tx.id)},${csvField(tx.date)},${csvField(tx.accountId)},${formatCents(Math.round(tx.amount * 100))},${csvField(tx.currency)},${csvField(tx.description)},${csvField(tx.counterparty)},${csvField(tx.category)}\r\n`;
      }
      sink(out);
    }
  },
};

export const benchmarks: Benchmark[] = [
  {
    name: 'csv-encoder',
    figures: Object.keys(encoders).map((name) => `file.csv.encoder.${name}`),
    run: async () => {
      const rows = [...syntheticTransactions(ROWS)];
      const rates = new Map<string, number[]>(Object.keys(encoders).map((name) => [name, []]));
      const hashes = new Map<string, string>();
      // Interleaved runs: a burst of load on a shared machine hits every encoder alike.
      for (let run = 0; run < RUNS; run++) {
        for (const [name, encode] of Object.entries(encoders)) {
          const hash = createHash('sha256');
          const started = process.hrtime.bigint();
          await encode(rows, (text) => hash.update(text));
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          rates.get(name)!.push(Math.round(ROWS / seconds));
          hashes.set(name, hash.digest('hex'));
        }
      }
      if (new Set(hashes.values()).size !== 1)
        throw new Error(`encoders disagree: ${JSON.stringify([...hashes])}`);
      const hand = median(rates.get('hand_quoter')!);
      return [...rates].map(([name, values]): Figure => ({
        name: `file.csv.encoder.${name}`,
        value: median(values),
        unit: 'rows/s',
        rows: ROWS,
        runs: values,
        handQuoterSpeedup: Math.round((hand / median(values)) * 100) / 100,
      }));
    },
  },
];
