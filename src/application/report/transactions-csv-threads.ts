import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { Period } from '../../domain/report/provider-data.js';
import type { CsvSlice } from './transactions-csv.js';
import type { SliceRequest } from './transactions-csv.worker.js';

/** The compiled worker script beside this module; absent when running from TypeScript sources (Jest). */
const WORKER_SCRIPT = new URL('./transactions-csv.worker.js', import.meta.url);
let workerScriptExists: boolean | undefined;

/**
 * A thread's young generation (V8 `maxYoungGenerationSizeMb`): each slice's garbage dies young, and
 * without a cap the threads' heaps grew the 1M-row stage past 256 MB RSS (bench/RESULTS.md, issue 14).
 */
const YOUNG_GENERATION_MB = 24;

/** Worker threads of all file stages in this process together: at most one per core. */
let threadsInUse = 0;

/**
 * Worker threads that convert slices of one file stage's NDJSON (transactions-csv.worker.ts), so that
 * parsing and encoding use every core while this thread reads, hashes and writes. Slices are handed out in
 * turn; each answer resolves its own promise, so the caller keeps the order. Close it when the stage ends,
 * whether it succeeded or not. A worker that dies fails every slice still waiting and every later one.
 */
export class TransactionsCsvThreads {
  private readonly workers: Worker[];
  private readonly waiting = new Map<
    number,
    { resolve: (slice: CsvSlice) => void; reject: (error: Error) => void }
  >();
  private nextId = 0;
  private failure: Error | undefined;
  private closed = false;

  /**
   * Up to `wanted` threads, fewer when other stages of this process hold some (none: undefined, convert
   * on the calling thread). `script`/`options` start another worker script (tests run it from sources).
   */
  static open(
    wanted: number,
    period: Period,
    script: URL = WORKER_SCRIPT,
    options?: WorkerOptions,
  ): TransactionsCsvThreads | undefined {
    if (script === WORKER_SCRIPT) workerScriptExists ??= existsSync(fileURLToPath(WORKER_SCRIPT));
    const threads = Math.min(wanted, availableParallelism() - threadsInUse);
    if (threads < 1 || (script === WORKER_SCRIPT && !workerScriptExists)) return undefined;
    return new TransactionsCsvThreads(threads, period, script, options);
  }

  private constructor(
    threads: number,
    private readonly period: Period,
    script: URL,
    options?: WorkerOptions,
  ) {
    threadsInUse += threads;
    this.workers = Array.from({ length: threads }, () => {
      const worker = new Worker(script, {
        ...options,
        resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB, ...options?.resourceLimits },
      });
      worker.on('message', ({ id, slice }: { id: number; slice: CsvSlice }) => {
        this.waiting.get(id)?.resolve(slice);
        this.waiting.delete(id);
      });
      worker.on('error', (error) => this.fail(error));
      worker.on('exit', (code) => this.fail(new Error(`transactions CSV worker exited with code ${code}`)));
      return worker;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /** The slice converted by the next thread in turn; `bytes`: complete NDJSON lines (UTF-8), copied to it. */
  convert(bytes: Uint8Array): Promise<CsvSlice> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.workers[id % this.workers.length].postMessage({
        id,
        bytes,
        period: this.period,
      } satisfies SliceRequest);
    });
  }

  /** Stops the threads (slices still waiting are failed). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    threadsInUse -= this.workers.length;
    this.fail(new Error('transactions CSV threads closed'));
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const { reject } of this.waiting.values()) reject(this.failure);
    this.waiting.clear();
  }
}
