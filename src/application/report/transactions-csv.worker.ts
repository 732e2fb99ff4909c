import { parentPort } from 'node:worker_threads';
import type { Period } from '../../domain/report/provider-data.js';
import { convertSlice } from './transactions-csv.js';

/**
 * A worker thread of the file stage (TransactionsCsvThreads): converts each slice it is sent and answers
 * with the slice's CSV as UTF-8 bytes (moved, not copied, when they own their memory).
 * In: `{ id, bytes, period }` (complete NDJSON lines, UTF-8). Out: `{ id, slice }` (a CsvSlice).
 */
export type SliceRequest = Readonly<{ id: number; bytes: Uint8Array; period: Period }>;

const port = parentPort;
if (port === null) throw new Error('transactions-csv.worker runs as a worker thread');
port.on('message', ({ id, bytes, period }: SliceRequest) => {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  const slice = convertSlice(text, period);
  const csv = Buffer.from(slice.csv as string);
  const owned = csv.byteOffset === 0 && csv.byteLength === csv.buffer.byteLength;
  port.postMessage({ id, slice: { ...slice, csv } }, owned ? [csv.buffer as ArrayBuffer] : []);
});
