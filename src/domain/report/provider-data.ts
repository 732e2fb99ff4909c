/**
 * What the three providers return, as Conflux reads it. Raw results are stored as NDJSON (one JSON
 * object per line) in object storage (claim check); only keys, counts and hashes travel in events.
 */
export const PROVIDER_NAMES = ['bank-transactions', 'credit-bureau', 'tax-authority'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export const isProviderName = (value: string): value is ProviderName =>
  (PROVIDER_NAMES as readonly string[]).includes(value);

/** One bank transaction. `amount` is signed in the account currency: positive = money in. */
export type Transaction = Readonly<{
  id: string;
  accountId: string;
  date: string; // YYYY-MM-DD
  amount: number; // two decimals
  currency: string; // ISO 4217
  description: string;
  counterparty: string;
  category: string;
}>;

export type CreditReport = Readonly<{
  score: number; // 300–850
  band: 'excellent' | 'good' | 'fair' | 'poor' | 'very-poor';
  openAccounts: number;
  delinquencies: number;
  totalDebt: number;
}>;

export type TaxFiling = Readonly<{ year: number; income: number; taxPaid: number; currency: string }>;
export type TaxFilings = Readonly<{ filings: readonly TaxFiling[] }>;

export type Period = Readonly<{ from: string; to: string }>; // inclusive YYYY-MM-DD
