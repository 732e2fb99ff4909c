import { createHash, randomBytes } from 'node:crypto';
import { readPdf } from '../../support/pdf-inspect.js';
import { type TestApp, startTestApp } from '../../support/test-app.js';

const ROWS = 750;
const newId = () => `r${randomBytes(5).toString('hex')}`;
const FINAL = ['ready', 'failed', 'cancelled'];

describe('report lifecycle over HTTP (e2e)', () => {
  let t: TestApp;
  const tenant = { id: newId(), admin: { username: 'ada', password: 'ada-password-1', taxId: 'ADMIN-1' } };
  const other = { id: newId(), admin: { username: 'otto', password: 'otto-password-1', taxId: 'OTHER-1' } };
  let admin: string;
  let mia: string; // member, tax id MIA-1
  let max: string; // member, tax id MAX-1
  let outsider: string; // admin of the other tenant

  const login = async (tenantId: string, username: string, password: string): Promise<string> => {
    const response = await t.request('POST', '/v1/auth/login', { body: { tenantId, username, password } });
    expect(response.status).toBe(200);
    return response.body.accessToken as string;
  };

  const waitFinal = async (token: string, id: string, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await t.request('GET', `/v1/reports/${id}`, { token });
      expect(response.status).toBe(200);
      if (FINAL.includes(response.body.status)) return response;
      if (Date.now() > deadline) throw new Error(`report ${id} still ${response.body.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const requestReport = async (token: string, body: unknown = {}, headers: Record<string, string> = {}) =>
    t.request('POST', '/v1/reports', { token, body, headers });

  beforeAll(async () => {
    t = await startTestApp({
      SIM_PORT: '0',
      SIM_TRANSACTIONS: String(ROWS),
      SIM_LATENCY_MS: '300',
      POLL_BACKOFF_BASE_MS: '50',
      DOWNLOAD_URL_TTL_SECONDS: '3',
    });
    for (const tn of [tenant, other]) {
      const created = await t.request('POST', '/v1/tenants', {
        token: t.operatorToken,
        body: { id: tn.id, name: tn.id, admin: { username: tn.admin.username, password: tn.admin.password } },
      });
      expect(created.status).toBe(201);
    }
    admin = await login(tenant.id, tenant.admin.username, tenant.admin.password);
    outsider = await login(other.id, other.admin.username, other.admin.password);
    for (const [username, taxId] of [
      ['mia', 'MIA-1'],
      ['max', 'MAX-1'],
    ]) {
      const user = await t.request('POST', '/v1/users', {
        token: admin,
        body: { username, password: `${username}-password-1`, taxId, role: 'member' },
      });
      expect(user.status).toBe(201);
    }
    mia = await login(tenant.id, 'mia', 'mia-password-1');
    max = await login(tenant.id, 'max', 'max-password-1');
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('lists the three provider plugins', async () => {
    const response = await t.request('GET', '/v1/providers', { token: mia });
    expect(response.status).toBe(200);
    expect(response.body.data.map((p: { name: string }) => p.name).sort()).toEqual([
      'bank-transactions',
      'credit-bureau',
      'tax-authority',
    ]);
  });

  it('takes a request with 202 and Location, then reaches ready with exactly SIM_TRANSACTIONS CSV rows', async () => {
    const created = await requestReport(mia, { period: { from: '2026-01-01', to: '2026-06-30' } });
    expect(created.status).toBe(202);
    expect(created.headers.get('location')).toBe(`/v1/reports/${created.body.id}`);
    expect(created.body).toMatchObject({
      tenantId: tenant.id,
      status: 'pending',
      subject: { taxId: 'MIA-1' },
      period: { from: '2026-01-01', to: '2026-06-30' },
      files: [],
      error: null,
      completedAt: null,
    });

    const ready = await waitFinal(mia, created.body.id);
    expect(ready.body.status).toBe('ready');
    expect(ready.body.progress.percent).toBe(100);
    expect(Object.values(ready.body.progress.providers).map((p: any) => p.status)).toEqual([
      'done',
      'done',
      'done',
    ]);
    const names = ready.body.files.map((f: { name: string }) => f.name).sort();
    expect(names).toEqual(['summary.json', 'summary.pdf', 'transactions.csv']);

    // The file link: a 302 to a signed URL that works without any Authorization header.
    const redirect = await fetch(`${t.baseUrl}/v1/reports/${created.body.id}/files/transactions.csv`, {
      headers: { authorization: `Bearer ${mia}` },
      redirect: 'manual',
    });
    expect(redirect.status).toBe(302);
    const download = await fetch(redirect.headers.get('location')!);
    expect(download.status).toBe(200);
    const csv = Buffer.from(await download.arrayBuffer());
    const listed = ready.body.files.find((f: { name: string }) => f.name === 'transactions.csv');
    expect(csv.length).toBe(listed.bytes);
    expect(createHash('sha256').update(csv).digest('hex')).toBe(listed.sha256);
    const lines =
      csv.toString('utf8').trimEnd().split('\r\n').length > 1
        ? csv.toString('utf8').trimEnd().split(/\r?\n/)
        : [];
    expect(lines[0]).toBe('id,date,accountId,amount,currency,description,counterparty,category');
    expect(lines.length - 1).toBe(ROWS);
    expect(listed.rows).toBe(ROWS);

    const summaryFile = ready.body.files.find((f: { name: string }) => f.name === 'summary.json');
    const summary: any = await (await fetch(summaryFile.url)).json();
    expect(summary.totals.count).toBe(ROWS);
    expect(summary.subject.taxId).toBe('MIA-1');

    // summary.pdf: listed like its siblings, served as application/pdf, the figures of summary.json.
    const pdfFile = ready.body.files.find((f: { name: string }) => f.name === 'summary.pdf');
    expect(pdfFile).toMatchObject({ contentType: 'application/pdf', bytes: expect.any(Number) });
    const pdfRedirect = await fetch(`${t.baseUrl}/v1/reports/${created.body.id}/files/summary.pdf`, {
      headers: { authorization: `Bearer ${mia}` },
      redirect: 'manual',
    });
    expect(pdfRedirect.status).toBe(302);
    const pdfDownload = await fetch(pdfRedirect.headers.get('location')!);
    expect(pdfDownload.status).toBe(200);
    expect(pdfDownload.headers.get('content-type')).toBe('application/pdf');
    const pdf = Buffer.from(await pdfDownload.arrayBuffer());
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pdf.length).toBe(pdfFile.bytes);
    expect(createHash('sha256').update(pdf).digest('hex')).toBe(pdfFile.sha256);
    const { pages } = readPdf(pdf);
    expect(pages.length).toBeGreaterThanOrEqual(1);
    expect(pages.length).toBeLessThanOrEqual(3);
    expect(pages[0].text).toContain('Tax ID ••••-1');
    expect(pages[0].text).toMatch(new RegExp(`^${ROWS}$`, 'm')); // the transaction count
    expect(pages.map((p) => p.text).join('\n')).not.toContain('MIA-1');
  });

  it('answers 403 to an expired or tampered download link', async () => {
    const created = await requestReport(max);
    const ready = await waitFinal(max, created.body.id);
    const url = new URL(ready.body.files[0].url);
    const tampered = new URL(url);
    tampered.searchParams.set(
      'key',
      url.searchParams.get('key')!.replace('transactions.csv', 'summary.json'),
    );
    expect((await fetch(tampered)).status).toBe(403);
    await new Promise((r) =>
      setTimeout(r, new Date(ready.body.files[0].expiresAt).getTime() - Date.now() + 1100),
    );
    const expired = await fetch(url);
    expect(expired.status).toBe(403);
    expect(expired.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('still gets a ready report from flaky providers', async () => {
    const created = await requestReport(admin, { subject: { taxId: 'flaky-7' } });
    const final = await waitFinal(admin, created.body.id, 60_000);
    expect(final.body.status).toBe('ready');
    expect(final.body.files.find((f: { name: string }) => f.name === 'transactions.csv').rows).toBe(ROWS);
  });

  it('fails a report naming credit-bureau when that provider fails', async () => {
    const created = await requestReport(admin, { subject: { taxId: 'fail-credit-1' } });
    const final = await waitFinal(admin, created.body.id);
    expect(final.body.status).toBe('failed');
    expect(final.body.error).toMatchObject({ provider: 'credit-bureau', code: expect.any(String) });
    expect(final.body.files).toEqual([]);
  });

  it('cancels a slow report, which ends cancelled; cancelling again is 409', async () => {
    const created = await requestReport(admin, { subject: { taxId: 'slow-1' } });
    const cancelled = await t.request('POST', `/v1/reports/${created.body.id}/cancel`, { token: admin });
    expect(cancelled.status).toBe(202);
    expect(cancelled.body.status).toBe('cancelled');
    const again = await t.request('POST', `/v1/reports/${created.body.id}/cancel`, { token: admin });
    expect(again.status).toBe(409);
    expect(again.contentType).toMatch(/^application\/problem\+json/);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await t.request('GET', `/v1/reports/${created.body.id}`, { token: admin })).body.status).toBe(
      'cancelled',
    );
  });

  it('hides a report from other tenants and other members (404), not from its owner or the tenant admin', async () => {
    const created = await requestReport(mia);
    const path = `/v1/reports/${created.body.id}`;
    expect((await t.request('GET', path, { token: outsider })).status).toBe(404);
    expect((await t.request('GET', path, { token: max })).status).toBe(404);
    expect((await t.request('POST', `${path}/cancel`, { token: max })).status).toBe(404);
    expect((await t.request('GET', `${path}/files/transactions.csv`, { token: outsider })).status).toBe(404);
    expect((await t.request('GET', `${path}/events`, { token: outsider })).status).toBe(404);
    expect((await t.request('GET', path, { token: mia })).status).toBe(200);
    expect((await t.request('GET', path, { token: admin })).status).toBe(200);
    await waitFinal(mia, created.body.id);
  });

  it('lists newest first: members their own, admins the whole tenant, with cursor pagination', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await requestReport(max)).body.id);
    const listed = async (token: string, query = '') => {
      const response = await t.request('GET', `/v1/reports${query}`, { token });
      expect(response.status).toBe(200);
      return response.body;
    };
    // The read model follows the log within milliseconds; give it a moment.
    for (let tries = 0; tries < 50; tries++) {
      if ((await listed(max)).data.some((r: { id: string }) => r.id === ids[2])) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const mine = await listed(max);
    expect(mine.data.every((r: { subject: { taxId: string } }) => r.subject.taxId === 'MAX-1')).toBe(true);
    expect(mine.data.slice(0, 3).map((r: { id: string }) => r.id)).toEqual([...ids].reverse());
    const miaSees = await listed(mia);
    expect(miaSees.data.some((r: { id: string }) => ids.includes(r.id))).toBe(false);

    const all = await listed(admin, '?limit=100');
    expect(all.data.some((r: { subject: { taxId: string } }) => r.subject.taxId === 'MIA-1')).toBe(true);
    const first = await listed(max, '?limit=2');
    expect(first.data).toHaveLength(2);
    expect(first.hasMore).toBe(true);
    const next = await t.request('GET', `/v1/reports?limit=2&startingAfter=${first.data[1].id}`, {
      token: max,
    });
    expect(next.body.data[0].id).toBe(ids[0]);
    expect((await t.request('GET', '/v1/reports?limit=0', { token: max })).status).toBe(400);
    expect((await t.request('GET', '/v1/reports?limit=101', { token: max })).body.errors[0].field).toBe(
      'limit',
    );
  });

  it('honours Idempotency-Key: same body gives the same report, another body 422', async () => {
    const key = { 'idempotency-key': `k-${randomBytes(4).toString('hex')}` };
    const body = { period: { from: '2026-02-01', to: '2026-02-28' } };
    const first = await requestReport(mia, body, key);
    const second = await requestReport(mia, body, key);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body.id).toBe(first.body.id);
    const different = await requestReport(mia, { period: { from: '2026-03-01', to: '2026-03-31' } }, key);
    expect(different.status).toBe(422);
    // Keys are per caller: another member may use the same key for their own request.
    expect((await requestReport(max, body, key)).body.id).not.toBe(first.body.id);
  });

  it('rejects bad requests with problem+json naming the field, and members naming another subject', async () => {
    const badPeriod = await requestReport(mia, { period: { from: '2026-05-01', to: '2026-04-01' } });
    expect(badPeriod.status).toBe(400);
    expect(badPeriod.body.errors).toEqual([expect.objectContaining({ field: 'period.from' })]);
    const badDate = await requestReport(mia, { period: { from: '2026-02-30', to: '2026-04-01' } });
    expect(badDate.body.errors[0].field).toBe('period.from');
    const badSubject = await requestReport(admin, { subject: { taxId: 'no spaces allowed' } });
    expect(badSubject.body.errors[0].field).toBe('subject.taxId');
    expect((await requestReport(mia, { subject: { taxId: 'SOMEONE-ELSE' } })).status).toBe(403);
    expect((await requestReport(mia, { surprise: true })).body.errors[0].field).toBe('surprise');
    expect((await t.request('POST', '/v1/reports', { body: {} })).status).toBe(401);
    expect((await t.request('POST', '/v1/reports', { token: mia, rawBody: '{"period":' })).status).toBe(400);
    expect((await t.request('GET', '/v1/reports/nope', { token: mia })).status).toBe(404);
  });

  it('streams progress as server-sent events, then the final event; resumes after Last-Event-ID', async () => {
    const created = await requestReport(mia);
    const response = await fetch(`${t.baseUrl}/v1/reports/${created.body.id}/events?access_token=${mia}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    // Its final event carries signed links: never stored by a cache, as every /v1 answer.
    expect(response.headers.get('cache-control')?.split(/,\s*/)).toContain('no-store');
    expect(response.headers.get('cache-control')).not.toMatch(/no-cache/);
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    const text = await response.text(); // the server ends the stream after the final event
    const events = text
      .split('\n\n')
      .filter((block) => block.includes('data:'))
      .map((block) => ({
        event: /^event: (.*)$/m.exec(block)?.[1],
        id: Number(/^id: (.*)$/m.exec(block)?.[1]),
        data: JSON.parse(/^data: (.*)$/m.exec(block)![1]),
      }));
    expect(events.length).toBeGreaterThan(1);
    expect(events.slice(0, -1).every((e) => e.event === 'progress')).toBe(true);
    const last = events[events.length - 1];
    expect(last.event).toBe('ready');
    expect(last.data.status).toBe('ready');
    const ids = events.map((e) => e.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);

    // A browser that saw everything and reconnects gets nothing more; one that missed the end gets it.
    const resumedAll = await fetch(`${t.baseUrl}/v1/reports/${created.body.id}/events`, {
      headers: { authorization: `Bearer ${mia}`, 'last-event-id': String(last.id) },
    });
    expect(await resumedAll.text()).not.toContain('data:');
    const resumed = await fetch(`${t.baseUrl}/v1/reports/${created.body.id}/events`, {
      headers: { authorization: `Bearer ${mia}`, 'last-event-id': String(last.id - 1) },
    });
    expect(await resumed.text()).toMatch(/event: ready/);
    // A query token is accepted on this endpoint only.
    expect((await fetch(`${t.baseUrl}/v1/reports/${created.body.id}?access_token=${mia}`)).status).toBe(401);
  });
});
