import type { RecordedEvent } from '../../../../src/application/ports/event-store.port.js';
import {
  compareCursors,
  matchesFilter,
  type TailEvent,
} from '../../../../src/infrastructure/event-store/log-tail.js';

const tailEvent = (
  over: Partial<{ type: string; category: string; tenantId: string | null }> = {},
): TailEvent => ({
  event: { type: over.type ?? 'ReportRequested' } as RecordedEvent,
  cursor: { tx: '1', pos: '1' },
  category: over.category ?? 'report',
  tenantId: over.tenantId === undefined ? 'acme' : over.tenantId,
});

describe('the log tail: cursor order', () => {
  it.each([
    [{ tx: '9', pos: '5' }, { tx: '10', pos: '1' }, -1],
    [{ tx: '10', pos: '1' }, { tx: '9', pos: '5' }, 1],
    [{ tx: '10', pos: '9' }, { tx: '10', pos: '10' }, -1],
    [{ tx: '18446744073709551615', pos: '1' }, { tx: '18446744073709551614', pos: '2' }, 1],
    [{ tx: '0', pos: '0' }, { tx: '3', pos: '1' }, -1],
    [{ tx: '7', pos: '7' }, { tx: '7', pos: '7' }, 0],
  ])('given %j and %j, the log orders them %i', (a, b, sign) => {
    expect(Math.sign(compareCursors(a, b))).toBe(sign);
  });
});

describe('the log tail: filters applied in memory, as the SQL filter does', () => {
  it('given no filter, when an event comes, then it matches', () => {
    expect(matchesFilter(undefined, tailEvent())).toBe(true);
    expect(matchesFilter({}, tailEvent({ tenantId: null }))).toBe(true);
  });

  it('given a tenant filter, when events of several tenants come, then only that tenant’s match', () => {
    expect(matchesFilter({ tenantId: 'acme' }, tailEvent({ tenantId: 'acme' }))).toBe(true);
    expect(matchesFilter({ tenantId: 'acme' }, tailEvent({ tenantId: 'globex' }))).toBe(false);
    expect(matchesFilter({ tenantId: 'acme' }, tailEvent({ tenantId: null }))).toBe(false);
  });

  it('given categories and types, when an event differs in either, then it does not match', () => {
    const filter = { categories: ['report'], eventTypes: ['ReportReady', 'ReportFailed'] };
    expect(matchesFilter(filter, tailEvent({ type: 'ReportReady' }))).toBe(true);
    expect(matchesFilter(filter, tailEvent({ type: 'ReportRequested' }))).toBe(false);
    expect(matchesFilter(filter, tailEvent({ type: 'ReportReady', category: 'tenant' }))).toBe(false);
  });

  it('given empty lists, when any event comes, then none matches (as = ANY of an empty array)', () => {
    expect(matchesFilter({ categories: [] }, tailEvent())).toBe(false);
    expect(matchesFilter({ eventTypes: [] }, tailEvent())).toBe(false);
  });
});
