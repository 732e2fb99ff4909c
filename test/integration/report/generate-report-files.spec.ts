import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import {
  generateReportFiles,
  InvalidProviderDataError,
} from '../../../src/application/report/generate-report-files.js';
import type { Transaction } from '../../../src/domain/report/provider-data.js';
import { PdfSummaryRenderer } from '../../../src/infrastructure/report-documents/pdf-summary-renderer.js';
import { LocalObjectStorage } from '../../../src/infrastructure/storage/local-object-storage.js';
import { readPdf } from '../../support/pdf-inspect.js';

/** A strict RFC 4180 reader for the assertions: quoted fields, doubled quotes, CRLF records. */
const parseCsv = (csv: string): string[][] => {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  while (i < csv.length) {
    if (csv[i] === '"') {
      i++;
      for (;;) {
        if (csv[i] === '"' && csv[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (csv[i] === '"') break;
        else if (i >= csv.length) throw new Error('unterminated quoted field');
        else field += csv[i++];
      }
      i++;
    } else {
      while (i < csv.length && csv[i] !== ',' && csv[i] !== '\r' && csv[i] !== '"') field += csv[i++];
      if (csv[i] === '"') throw new Error(`bare quote at ${i}`);
    }
    if (csv[i] === ',') {
      record.push(field);
      field = '';
      i++;
    } else if (csv[i] === '\r' && csv[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 2;
    } else throw new Error(`expected , or CRLF at ${i}`);
  }
  return records;
};

const HEADER = ['id', 'date', 'accountId', 'amount', 'currency', 'description', 'counterparty', 'category'];

const tx = (over: Partial<Transaction> & Pick<Transaction, 'id' | 'date' | 'amount'>): Transaction => ({
  accountId: 'acc-1',
  currency: 'EUR',
  description: 'Card payment',
  counterparty: 'Shop',
  category: 'groceries',
  ...over,
});

const handMade: Transaction[] = [
  tx({
    id: 't1',
    date: '2024-01-31',
    amount: 2500,
    description: 'Salary',
    counterparty: 'Acme',
    category: 'salary',
  }),
  tx({
    id: 't2',
    date: '2024-01-31',
    amount: -12.3,
    description: 'Lunch, "Chez Marie"\nTable 4',
    counterparty: 'Chez Marie',
    category: 'restaurants',
  }),
  tx({
    id: 't3',
    date: '2024-02-10',
    amount: -100.05,
    description: 'Épicerie Ünïcode ✓',
    category: 'groceries',
  }),
  tx({ id: 't4', date: '2024-03-01', amount: 0.1, description: 'Refund\r\nline 2', category: 'refunds' }),
  tx({ id: 't5', date: '2024-03-02', amount: -0.2, category: 'groceries' }),
];

const ndjson = (rows: readonly Transaction[], eol = '\n') =>
  rows.map((r) => JSON.stringify(r) + eol).join('');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

let root: string;
let storage: LocalObjectStorage;

const CREDIT = '{"score":702,"band":"good","openAccounts":3,"delinquencies":1,"totalDebt":1200.5}\n';
const TAX =
  '{"filings":[{"year":2024,"income":41000,"taxPaid":8200.5,"currency":"EUR"},{"year":2023,"income":39000,"taxPaid":7800,"currency":"EUR"}]}\n';

const setUp = async (
  bank: string,
  {
    readChunkBytes,
    credit = CREDIT,
    tax = TAX,
  }: { readChunkBytes?: number; credit?: string; tax?: string } = {},
) => {
  storage = new LocalObjectStorage({
    rootDir: root,
    secret: randomBytes(32),
    publicBaseUrl: 'http://localhost',
    ...(readChunkBytes ? { readChunkBytes } : {}),
  });
  const put = (key: string, body: string) =>
    storage.put(key, Readable.from([body]), { contentType: 'application/x-ndjson' });
  await put('raw/bank.ndjson', bank);
  await put('raw/credit.ndjson', credit);
  await put('raw/tax.ndjson', tax);
};

const generate = () =>
  generateReportFiles({
    storage,
    documents: new PdfSummaryRenderer(),
    tenantId: 'acme',
    reportId: 'r1',
    subject: { taxId: 'T-1' },
    period: { from: '2024-01-01', to: '2024-03-31' },
    inputs: { bankKey: 'raw/bank.ndjson', creditKey: 'raw/credit.ndjson', taxKey: 'raw/tax.ndjson' },
    generatedAt: '2025-01-02T03:04:05.000Z',
  });

const fileOnDisk = (key: string) => readFile(join(root, 'data', key));

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'conflux-files-stage-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('generateReportFiles', () => {
  it('writes transactions.csv: header, one RFC 4180 row per transaction, amounts with two decimals', async () => {
    await setUp(ndjson(handMade));
    await generate();
    const csv = (await fileOnDisk('tenants/acme/reports/r1/transactions.csv')).toString('utf8');
    expect(csv.startsWith('id,date,accountId,amount,currency,description,counterparty,category\r\n')).toBe(
      true,
    );
    expect(csv).toContain(
      't2,2024-01-31,acc-1,-12.30,EUR,"Lunch, ""Chez Marie""\nTable 4",Chez Marie,restaurants\r\n',
    );
    const records = parseCsv(csv);
    expect(records[0]).toEqual(HEADER);
    expect(records.slice(1)).toEqual(
      handMade.map((t) => [
        t.id,
        t.date,
        t.accountId,
        (Math.round(t.amount * 100) / 100).toFixed(2),
        t.currency,
        t.description,
        t.counterparty,
        t.category,
      ]),
    );
  });

  it('returns the three files with keys, rows, bytes and sha256 that match what is stored', async () => {
    await setUp(ndjson(handMade));
    const files = await generate();
    expect(files.map((f) => f.name)).toEqual(['transactions.csv', 'summary.json', 'summary.pdf']);
    for (const file of files) {
      const stored = await fileOnDisk(file.key);
      expect(file.bytes).toBe(stored.length);
      expect(file.sha256).toBe(sha256(stored));
    }
    expect(files[0]).toMatchObject({
      key: 'tenants/acme/reports/r1/transactions.csv',
      contentType: 'text/csv',
      rows: handMade.length,
    });
    expect(files[1]).toMatchObject({
      key: 'tenants/acme/reports/r1/summary.json',
      contentType: 'application/json',
    });
    expect(files[2]).toMatchObject({
      key: 'tenants/acme/reports/r1/summary.pdf',
      contentType: 'application/pdf',
    });
    expect(await storage.head(files[0].key)).toEqual({ bytes: files[0].bytes, contentType: 'text/csv' });
    expect(await storage.head(files[2].key)).toEqual({
      bytes: files[2].bytes,
      contentType: 'application/pdf',
    });
  });

  it('draws summary.pdf from the figures of summary.json, byte for byte the same when generated again', async () => {
    await setUp(ndjson(handMade));
    const first = await generate();
    const summary = JSON.parse((await fileOnDisk('tenants/acme/reports/r1/summary.json')).toString());
    const pdf = await fileOnDisk('tenants/acme/reports/r1/summary.pdf');
    const { pages } = readPdf(pdf);
    expect(pages.length).toBeGreaterThanOrEqual(1);
    expect(pages.length).toBeLessThanOrEqual(3);
    const page1 = pages[0].text;
    // summary.json says moneyIn 2500.1, moneyOut 112.55, net 2387.55, 5 transactions.
    expect(summary.totals).toEqual({ count: 5, moneyIn: 2500.1, moneyOut: 112.55, net: 2387.55 });
    for (const printed of ['EUR 2,500.10', 'EUR 112.55', 'EUR 2,387.55', 'groceries', 'restaurants'])
      expect(page1).toContain(printed);
    expect(page1).toMatch(/^5$/m);
    expect(pages.map((p) => p.text).join('\n')).toContain('702'); // the credit score

    const again = await generate();
    expect(again[2].sha256).toBe(first[2].sha256);
  });

  it('writes summary.json with the right figures', async () => {
    await setUp(ndjson(handMade));
    await generate();
    const summary = JSON.parse(await text(await storage.get('tenants/acme/reports/r1/summary.json')));
    expect(summary).toEqual({
      subject: { taxId: 'T-1' },
      period: { from: '2024-01-01', to: '2024-03-31' },
      generatedAt: '2025-01-02T03:04:05.000Z',
      currency: 'EUR',
      totals: { count: 5, moneyIn: 2500.1, moneyOut: 112.55, net: 2387.55 },
      monthly: [
        { month: '2024-01', in: 2500, out: 12.3 },
        { month: '2024-02', in: 0, out: 100.05 },
        { month: '2024-03', in: 0.1, out: 0.2 },
      ],
      spendingByCategory: [
        { category: 'groceries', amount: 100.25, count: 2 },
        { category: 'restaurants', amount: 12.3, count: 1 },
      ],
      otherCurrencies: [],
      rejected: { count: 0, byReason: {} },
      credit: { score: 702, band: 'good', openAccounts: 3, delinquencies: 1, totalDebt: 1200.5 },
      taxFilings: [
        { year: 2023, income: 39000, taxPaid: 7800, currency: 'EUR' },
        { year: 2024, income: 41000, taxPaid: 8200.5, currency: 'EUR' },
      ],
    });
  });

  it('keeps every row when lines and multi-byte characters straddle read chunks (CRLF input, no final newline)', async () => {
    const many = Array.from({ length: 3000 }, (_, i) =>
      tx({
        id: `m${i}`,
        date: `2024-0${1 + (i % 3)}-15`,
        amount: -(i % 100) - 0.99,
        description: `Café ✓ №${i}, "x"`,
      }),
    );
    // 997-byte chunks: a prime, so boundaries fall everywhere, inside UTF-8 sequences included.
    await setUp(ndjson(many, '\r\n').slice(0, -2), { readChunkBytes: 997 });
    const [csvFile] = await generate();
    const records = parseCsv((await fileOnDisk(csvFile.key)).toString('utf8'));
    expect(csvFile.rows).toBe(3000);
    expect(records).toHaveLength(3001);
    expect(records.slice(1).map((r) => r[5])).toEqual(many.map((t) => t.description));
  });

  it('keeps every row and numbers lines right across the pieces a large read is decoded in (64 KiB)', async () => {
    // 1 MiB reads are decoded in pieces of up to 64 KiB cut at newlines: rows of multi-byte text around
    // every cut, one line longer than a piece, and a bad line far into a later piece.
    const many = Array.from({ length: 6000 }, (_, i) =>
      tx({
        id: `p${i}`,
        date: '2024-02-15',
        amount: -1.5,
        description: i === 2500 ? `Long ✓ ${'é'.repeat(40_000)}` : `Café ✓ №${i}, "x"`,
      }),
    );
    await setUp(ndjson(many), { readChunkBytes: 1024 * 1024 });
    const [csvFile] = await generate();
    const records = parseCsv((await fileOnDisk(csvFile.key)).toString('utf8'));
    expect(csvFile.rows).toBe(6000);
    expect(records.slice(1).map((r) => r[5])).toEqual(many.map((t) => t.description));

    await setUp(ndjson(many.slice(0, 5000)) + 'not json\n' + ndjson(many.slice(5000)), {
      readChunkBytes: 1024 * 1024,
    });
    await expect(generate()).rejects.toThrow(/raw\/bank\.ndjson, line 5001: not a JSON object/);
  });

  it('writes only a header for a subject without transactions', async () => {
    await setUp('');
    const [csvFile] = await generate();
    expect((await fileOnDisk(csvFile.key)).toString()).toBe(`${HEADER.join(',')}\r\n`);
    expect(csvFile.rows).toBe(0);
  });

  it('turns missing optional text into empty fields, not "null"', async () => {
    await setUp(
      '{"id":"n1","date":"2024-01-01","amount":-5,"currency":"EUR","description":null,"category":"misc"}\n',
    );
    const [csvFile] = await generate();
    expect(parseCsv((await fileOnDisk(csvFile.key)).toString())[1]).toEqual([
      'n1',
      '2024-01-01',
      '',
      '-5.00',
      'EUR',
      '',
      '',
      'misc',
    ]);
  });

  it('fails naming the line of a line that is not a JSON object, and publishes no transactions.csv', async () => {
    await setUp(ndjson(handMade.slice(0, 2)) + '[1,2]\n' + ndjson(handMade.slice(2)));
    await expect(generate()).rejects.toThrow(InvalidProviderDataError);
    await expect(generate()).rejects.toThrow(/raw\/bank\.ndjson, line 3: not a JSON object/);
    expect(await storage.head('tenants/acme/reports/r1/transactions.csv')).toBeNull();
  });

  it('refuses one endless line instead of buffering it', async () => {
    await setUp(`[${'{"id":"x"},'.repeat(200_000)}`);
    await expect(generate()).rejects.toThrow(/longer than 1 MiB/);
  });

  it('leaves out and counts in summary.json every row that breaks a rule: period, date, amount, currency', async () => {
    const bad = [
      '{"id":"out-before","date":"2023-12-31","amount":1,"currency":"EUR"}',
      '{"id":"out-after","date":"2024-04-01","amount":1,"currency":"EUR"}',
      '{"id":"no-date","date":"2024-02-30","amount":1,"currency":"EUR"}',
      '{"id":"text-amount","date":"2024-01-01","amount":"12","currency":"EUR"}',
      '{"id":"huge","date":"2024-01-01","amount":1e21,"currency":"EUR"}',
      '{"id":"bad-currency","date":"2024-01-01","amount":1,"currency":"EURO"}',
      '{"id":"unknown-currency","date":"2024-01-01","amount":1,"currency":"XYZ"}',
      '{"date":"2024-01-01","amount":1,"currency":"EUR"}',
    ];
    await setUp(ndjson(handMade.slice(0, 2)) + bad.join('\n') + '\n' + ndjson(handMade.slice(2)));
    const files = await generate();
    expect(files.find((f) => f.name === 'transactions.csv')?.rows).toBe(handMade.length);
    const csv = (await fileOnDisk('tenants/acme/reports/r1/transactions.csv')).toString();
    expect(csv).not.toMatch(
      /out-before|out-after|no-date|text-amount|huge|e\+|bad-currency|unknown-currency/,
    );
    const summary = JSON.parse((await fileOnDisk('tenants/acme/reports/r1/summary.json')).toString());
    expect(summary.rejected).toEqual({
      count: 8,
      byReason: {
        invalid_amount: 2,
        invalid_currency: 2,
        invalid_date: 1,
        invalid_row: 1,
        outside_period: 2,
      },
    });
    expect(summary.totals.count).toBe(handMade.length);
  });

  it('reads a bank result that starts with a byte order mark, has CRLF endings and blank lines', async () => {
    await setUp(
      `\uFEFF${ndjson(handMade.slice(0, 2), '\r\n')}\r\n\n  \n${ndjson(handMade.slice(2), '\r\n')}`,
    );
    const files = await generate();
    expect(files.find((f) => f.name === 'transactions.csv')?.rows).toBe(handMade.length);
    const summary = JSON.parse((await fileOnDisk('tenants/acme/reports/r1/summary.json')).toString());
    expect(summary.rejected).toEqual({ count: 0, byReason: {} });
  });

  it('checks the credit report and every tax filing too: a row that breaks a rule is left out and counted', async () => {
    await setUp(ndjson(handMade), {
      credit: '\uFEFF{"score":1e21,"band":"good","openAccounts":3,"delinquencies":1,"totalDebt":12}\n',
      tax: JSON.stringify({
        filings: [
          { year: 2024, income: 41000.125, taxPaid: -0.125, currency: 'EUR' },
          { year: 2024, income: 1e21, taxPaid: 1, currency: 'EUR' },
          { year: 2024, income: '1e2', taxPaid: 1, currency: 'EUR' },
          { year: 2024, income: 1, taxPaid: 1, currency: 'eur' },
          { year: 2024, income: 1, taxPaid: 1, currency: 'QQQ' },
          { year: 2025, income: 1, taxPaid: 1, currency: 'EUR' },
          { year: '2024', income: 1, taxPaid: 1, currency: 'EUR' },
          { income: 1, taxPaid: 1, currency: 'EUR' },
        ],
      }),
    });
    await generate();
    const json = (await fileOnDisk('tenants/acme/reports/r1/summary.json')).toString();
    expect(json).not.toMatch(/e\+|1e2/);
    const summary = JSON.parse(json);
    expect(summary.credit).toBeNull();
    expect(summary.taxFilings).toEqual([{ year: 2024, income: 41000.13, taxPaid: -0.13, currency: 'EUR' }]);
    expect(summary.rejected).toEqual({
      count: 8,
      byReason: { invalid_credit_report: 1, invalid_tax_filing: 7 },
    });
  });

  it('rounds half away from zero both ways, on the decimal text, in the CSV and the summary alike', async () => {
    await setUp(
      ndjson([
        tx({ id: 'p', date: '2024-01-02', amount: 0.125, category: 'a' }),
        tx({ id: 'n', date: '2024-01-02', amount: -0.125, category: 'a' }),
        tx({ id: 'f', date: '2024-01-02', amount: 1.005, category: 'a' }),
      ]),
    );
    await generate();
    const csv = (await fileOnDisk('tenants/acme/reports/r1/transactions.csv')).toString();
    expect(
      csv
        .split('\r\n')
        .slice(1, 4)
        .map((line) => line.split(',')[3]),
    ).toEqual(['0.13', '-0.13', '1.01']);
    const summary = JSON.parse((await fileOnDisk('tenants/acme/reports/r1/summary.json')).toString());
    expect(summary.totals).toMatchObject({ moneyIn: 1.14, moneyOut: 0.13 });
  });
});
