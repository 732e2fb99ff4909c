import type { Transaction } from '../src/domain/report/provider-data.js';

/**
 * Deterministic synthetic bank transactions for the file-stage benchmarks: ~210 bytes of NDJSON and
 * ~115 bytes of CSV per row, dates in order over 2024, one row in 40 a salary, and a quarter of the rows
 * with a description that needs quoting (a comma, or quotes).
 */
const CATEGORIES = [
  'groceries',
  'restaurants',
  'transport',
  'utilities',
  'shopping',
  'health',
  'travel',
  'transfer',
];
const MERCHANTS = [
  'Fresh Market',
  'Café du Nord',
  'City Transit',
  'PowerGrid Energy',
  'Books, Music & More',
  'The "Corner" Shop',
  'Pharmacy Plus',
  'Skyways Airlines',
];

export const syntheticTransactions = function* (rows: number): Generator<Transaction> {
  let seed = 42;
  const random = () => (seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32;
  for (let i = 0; i < rows; i++) {
    const day = Math.floor((i * 366) / rows);
    const k = Math.floor(random() * MERCHANTS.length);
    const cents =
      i % 40 === 0 ? 250_000 + Math.floor(random() * 100_000) : -Math.floor(random() * random() * 20_000);
    yield {
      id: `tx-00c0ffee-${i}`,
      accountId: i % 3 === 0 ? 'acc-1f2e3d4c' : 'acc-9a8b7c6d',
      date: new Date(Date.UTC(2024, 0, 1 + day)).toISOString().slice(0, 10),
      amount: cents / 100,
      currency: 'EUR',
      description: cents > 0 ? 'Salary Acme Corp' : `Card payment ${MERCHANTS[k]} #${i % 9973}`,
      counterparty: cents > 0 ? 'Acme Corp' : MERCHANTS[k],
      category: cents > 0 ? 'salary' : CATEGORIES[k],
    };
  }
};

/** The same rows as NDJSON text, in batches (a Readable.from source with back-pressure). */
export const syntheticNdjson = function* (rows: number, batch = 2000): Generator<string> {
  let out = '';
  let n = 0;
  for (const tx of syntheticTransactions(rows)) {
    out += `${JSON.stringify(tx)}\n`;
    if (++n === batch) {
      yield out;
      out = '';
      n = 0;
    }
  }
  if (out !== '') yield out;
};
