import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { to as copyTo } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { withPeakRss } from './support.js';

/**
 * One measured run of a peer of the file stage, in a fresh process (spawned by file-stage.bench.ts), on
 * the same rows the file stage reads, loaded into table `table`:
 * - `seed`: the seed's way — pg-cursor batches of 1,000 → csv-stringify stream → file;
 * - `copy`: PostgreSQL `COPY … TO STDOUT (FORMAT csv)` → file, a practical limit (no parsing, no summary).
 * Argument: JSON `{ mode, databaseUrl, table, file }`. Prints one JSON line like file-stage.worker.js.
 */
type PeerArgs = { mode: 'seed' | 'copy'; databaseUrl: string; table: string; file: string };

const args = JSON.parse(process.argv[2] ?? '{}') as PeerArgs;
const COLUMNS = ['id', 'date', 'account_id', 'amount', 'currency', 'description', 'counterparty', 'category'];

const seed = async (client: pg.Client): Promise<number> => {
  const cursor = client.query(new Cursor(`SELECT ${COLUMNS.join(', ')} FROM ${args.table} ORDER BY seq`));
  let rows = 0;
  const batches = async function* () {
    for (;;) {
      const batch = await cursor.read(1000);
      if (batch.length === 0) break;
      rows += batch.length;
      yield* batch;
    }
    await cursor.close();
  };
  await pipeline(
    Readable.from(batches()),
    stringify({ header: true, columns: COLUMNS }),
    createWriteStream(args.file),
  );
  return rows;
};

const copy = async (client: pg.Client): Promise<number> => {
  const stream = client.query(
    copyTo(
      `COPY (SELECT ${COLUMNS.join(', ')} FROM ${args.table} ORDER BY seq) TO STDOUT (FORMAT csv, HEADER)`,
    ),
  );
  await pipeline(stream, createWriteStream(args.file));
  return Number(stream.rowCount);
};

const client = new pg.Client({ connectionString: args.databaseUrl });
await client.connect();
const started = process.hrtime.bigint();
const cpuBefore = process.cpuUsage();
const { result: rows, peakRssMb } = await withPeakRss(() =>
  args.mode === 'seed' ? seed(client) : copy(client),
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpuBefore);
await client.end();
console.log(
  JSON.stringify({
    rows,
    seconds,
    rowsPerSecond: Math.round(rows / seconds),
    rowsPerCpuSecond: Math.round(rows / ((cpu.user + cpu.system) / 1e6)),
    peakRssMb,
    maxRssMb: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
  }),
);
