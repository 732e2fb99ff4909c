import { median, type Benchmark, type Figure } from './support.js';
import { syntheticNdjson } from './synthetic-transactions.js';

/**
 * Why the file stage decodes its input a piece of at most 64 KiB at a time (generate-report-files.ts,
 * DECODE_PIECE_BYTES): the same bank NDJSON (UTF-8, not pure ASCII: "Café du Nord"), already in memory,
 * decoded with `Buffer#toString('utf8')` in pieces of each size below. On Node 24.21 pieces of 128 KiB up
 * to 1 MiB decode 4–20× slower per byte, by host, than smaller ones (and than 1 MiB and more, which Node
 * makes an external string). One figure per size: MB/s, the median of `RUNS` passes over 100k rows (~21 MB).
 */
const ROWS = 100_000;
const RUNS = 5;
const PIECES_KIB = [64, 128, 132, 256, 512, 1024];

export const benchmarks: Benchmark[] = [
  {
    name: 'utf8-decode',
    figures: ['file.decode.rate'],
    run: () => {
      const input = Buffer.from([...syntheticNdjson(ROWS)].join(''));
      const figures: Figure[] = [];
      for (const kib of PIECES_KIB) {
        // Copies, as storage reads hand them over: one Buffer per piece.
        const pieces: Buffer[] = [];
        for (let at = 0; at < input.length; at += kib * 1024)
          pieces.push(Buffer.from(input.subarray(at, at + kib * 1024)));
        const rates: number[] = [];
        for (let run = 0; run < RUNS; run++) {
          const started = performance.now();
          let chars = 0;
          for (const piece of pieces) chars += piece.toString('utf8').length;
          const seconds = (performance.now() - started) / 1000;
          if (chars === 0) throw new Error('nothing decoded');
          rates.push(Math.round(input.length / 1e6 / seconds));
        }
        figures.push({
          name: 'file.decode.rate',
          value: median(rates),
          unit: 'MB/s',
          pieceKiB: kib,
          runs: rates,
        });
      }
      return Promise.resolve(figures);
    },
  },
];
