import { randomBytes } from 'node:crypto';
import { LocalObjectStorage } from '../../../../src/infrastructure/storage/local-object-storage.js';

const issuedAt = new Date('2025-03-01T12:00:00.000Z');
const storage = new LocalObjectStorage({
  rootDir: '/nonexistent-signing-needs-no-disk',
  secret: randomBytes(32),
  publicBaseUrl: 'https://conflux.example/',
  now: () => issuedAt,
});
const key = 'tenants/acme/reports/r1/transactions.csv';
const options = { fileName: 'transactions.csv', contentType: 'text/csv', expiresInSeconds: 900 };

const issue = async () => {
  const { url, expiresAt } = await storage.signedDownloadUrl(key, options);
  return { url: new URL(url), expiresAt };
};
const queryOf = (url: URL): Record<string, string> => Object.fromEntries(url.searchParams);
const seconds = (s: number) => new Date(issuedAt.getTime() + s * 1000);

describe('signed download URLs', () => {
  it('point at the download route of the public base URL and expire after the TTL', async () => {
    const { url, expiresAt } = await issue();
    expect(`${url.origin}${url.pathname}`).toBe('https://conflux.example/v1/files/download');
    expect(expiresAt).toEqual(seconds(900));
    expect(url.searchParams.get('key')).toBe(key);
    expect(url.searchParams.get('sig')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('grant the key, file name and content type while valid', async () => {
    const { url } = await issue();
    expect(storage.verify(queryOf(url), seconds(899))).toEqual({
      ok: true,
      key,
      fileName: 'transactions.csv',
      contentType: 'text/csv',
      expiresAt: seconds(900),
    });
  });

  it('are refused as expired from the expiry second on', async () => {
    const { url } = await issue();
    expect(storage.verify(queryOf(url), seconds(900))).toEqual({ ok: false, reason: 'expired' });
    expect(storage.verify(queryOf(url), seconds(86_400))).toEqual({ ok: false, reason: 'expired' });
  });

  it.each([
    ['key', 'tenants/other/reports/r1/transactions.csv'],
    ['name', 'evil.exe'],
    ['type', 'text/html'],
    ['expires', String(issuedAt.getTime() / 1000 + 10 * 86_400)],
  ])('are refused as tampered when %s is changed', async (param, value) => {
    const { url } = await issue();
    url.searchParams.set(param, value);
    expect(storage.verify(queryOf(url), seconds(1))).toEqual({ ok: false, reason: 'tampered' });
  });

  it('are refused as tampered when the signature is changed, even only in its last character', async () => {
    const { url } = await issue();
    const sig = url.searchParams.get('sig')!;
    for (const forged of [sig.slice(0, -1) + (sig.endsWith('A') ? 'B' : 'A'), sig + 'A', sig.slice(1), '']) {
      url.searchParams.set('sig', forged);
      expect(storage.verify(queryOf(url), seconds(1))).toEqual({ ok: false, reason: 'tampered' });
    }
  });

  it('are refused when signed with another secret', async () => {
    const other = new LocalObjectStorage({
      rootDir: '/x',
      secret: randomBytes(32),
      publicBaseUrl: 'https://conflux.example',
      now: () => issuedAt,
    });
    const { url } = await other.signedDownloadUrl(key, options);
    expect(storage.verify(queryOf(new URL(url)), seconds(1))).toEqual({ ok: false, reason: 'tampered' });
  });

  it('are refused as malformed when a parameter is missing or repeated', async () => {
    const { url } = await issue();
    const { sig: _sig, ...unsigned } = queryOf(url);
    expect(storage.verify(unsigned, seconds(1))).toEqual({ ok: false, reason: 'malformed' });
    expect(storage.verify({ ...queryOf(url), key: [key, key] }, seconds(1))).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('are not issued for keys that escape the store', async () => {
    for (const bad of ['../secrets', '/etc/passwd', 'a/../../b', 'a//b', '']) {
      await expect(storage.signedDownloadUrl(bad, options)).rejects.toThrow(/Invalid object key/);
    }
  });
});
