import {
  ANY,
  NO_STREAM,
  STREAM_EXISTS,
  WrongExpectedVersionError as KurrentWrongExpectedVersionError,
  UnavailableError,
  type AllStreamRecordedEvent,
} from '@kurrent/kurrentdb-client';
import {
  WrongExpectedVersionError,
  type Checkpoint,
  type LogFilter,
} from '../../../../src/application/ports/event-store.port.js';
import {
  comparePositions,
  decodeCheckpoint,
  encodeCheckpoint,
  isTransientKurrentError,
  matchesLogFilter,
  serverFilterOf,
  toClientFilter,
  toPortAppendError,
  toRecordedEvent,
  toStreamState,
} from '../../../../src/infrastructure/event-store/kurrentdb-mapping.js';

const MAX = 2n ** 64n - 1n;

describe('KurrentDB mapping: checkpoints', () => {
  it('round-trips $all positions beyond 2^53 exactly, as a string that JSON carries', () => {
    for (const position of [
      { commit: 0n, prepare: 0n },
      { commit: 2n ** 53n + 1n, prepare: 2n ** 53n + 1n },
      { commit: MAX, prepare: MAX - 7n },
      { commit: 18_014_398_509_481_985n, prepare: 18_014_398_509_481_984n },
    ]) {
      const checkpoint = encodeCheckpoint(position);
      expect(typeof checkpoint).toBe('string');
      expect(decodeCheckpoint(JSON.parse(JSON.stringify({ checkpoint })).checkpoint as Checkpoint)).toEqual(
        position,
      );
    }
    expect(encodeCheckpoint({ commit: 2n ** 53n + 1n, prepare: 5n })).toBe('9007199254740993/5');
  });

  it('refuses what is not one of its checkpoints, a PostgreSQL store checkpoint included', () => {
    for (const text of ['', '12:34', '1/2/3', '-1/0', '1/', 'a/b', `${MAX + 1n}/0`, '1 / 2'])
      expect(() => decodeCheckpoint(text as Checkpoint)).toThrow(TypeError);
    expect(() => encodeCheckpoint({ commit: -1n, prepare: 0n })).toThrow(RangeError);
    expect(() => encodeCheckpoint({ commit: 0n, prepare: MAX + 1n })).toThrow(RangeError);
  });

  it('orders positions by commit, then prepare, without losing precision', () => {
    const big = 2n ** 60n;
    expect(comparePositions({ commit: big, prepare: big }, { commit: big + 1n, prepare: 0n })).toBe(-1);
    expect(comparePositions({ commit: big, prepare: big + 1n }, { commit: big, prepare: big })).toBe(1);
    expect(comparePositions({ commit: big, prepare: big }, { commit: big, prepare: big })).toBe(0);
  });
});

describe('KurrentDB mapping: expected revisions and errors', () => {
  it("maps the port's expected revisions to the client's stream states", () => {
    expect(toStreamState('any')).toBe(ANY);
    expect(toStreamState('no_stream')).toBe(NO_STREAM);
    expect(toStreamState('stream_exists')).toBe(STREAM_EXISTS);
    expect(toStreamState(0)).toBe(0n);
    expect(toStreamState(Number.MAX_SAFE_INTEGER)).toBe(BigInt(Number.MAX_SAFE_INTEGER));
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) expect(() => toStreamState(bad)).toThrow(RangeError);
  });

  it("maps the client's WrongExpectedVersionError to the port's, with the expected and the actual revision", () => {
    const clientError = (current: bigint | 'no_stream') =>
      new KurrentWrongExpectedVersionError(undefined, { streamName: 'report-acme.1', expected: 1n, current });

    expect(toPortAppendError(clientError(3n), 'report-acme.1', 1)).toEqual(
      new WrongExpectedVersionError('report-acme.1', 1, 3),
    );
    expect(toPortAppendError(clientError(3n), 'report-acme.1', 1)).toMatchObject({
      streamName: 'report-acme.1',
      expected: 1,
      actual: 3,
    });
    expect(toPortAppendError(clientError('no_stream'), 'report-acme.1', 'stream_exists')).toMatchObject({
      expected: 'stream_exists',
      actual: 'no_stream',
    });
    // A deleted stream (the server's -5): no stream to append after.
    expect(toPortAppendError(clientError(-5n), 'report-acme.1', 0)).toMatchObject({ actual: 'no_stream' });
    const other = new Error('boom');
    expect(toPortAppendError(other, 'report-acme.1', 1)).toBe(other);
  });

  it('tells connection failures (resubscribe) from request failures (give up)', () => {
    expect(isTransientKurrentError(new UnavailableError(undefined as never))).toBe(true);
    expect(
      isTransientKurrentError(new Error('14 UNAVAILABLE: No connection established. connect ECONNREFUSED')),
    ).toBe(true);
    expect(isTransientKurrentError(new TypeError('Event x is not JSON'))).toBe(false);
    expect(isTransientKurrentError('UNAVAILABLE')).toBe(false);
  });
});

describe('KurrentDB mapping: log filters', () => {
  it('puts the most selective dimension on the server: tenant, else event types, else categories', () => {
    expect(serverFilterOf(undefined)).toEqual({ on: 'streamName', regex: '^[^$]' });
    expect(serverFilterOf({ categories: ['report'] })).toEqual({ on: 'streamName', prefixes: ['report-'] });
    expect(serverFilterOf({ categories: ['report', 'note'], tenantId: 'acme' })).toEqual({
      on: 'streamName',
      prefixes: ['report-acme.', 'note-acme.'],
    });
    expect(serverFilterOf({ tenantId: 'acme', eventTypes: ['ReportReady'] })).toEqual({
      on: 'streamName',
      regex: '^(?!\\$)[^-]*-acme\\.',
    });
    expect(serverFilterOf({ categories: ['report'], eventTypes: ['ReportReady', 'A.B'] })).toEqual({
      on: 'eventType',
      regex: '^(?:ReportReady|A\\.B)$',
    });
  });

  it("builds the client's filter objects", () => {
    expect(toClientFilter({ on: 'streamName', prefixes: ['report-acme.'] })).toMatchObject({
      filterOn: 'streamName',
      prefixes: ['report-acme.'],
    });
    expect(toClientFilter({ on: 'eventType', regex: '^(?:A)$' })).toMatchObject({
      filterOn: 'eventType',
      regex: '^(?:A)$',
    });
  });

  it('the server regexes select what the in-process check accepts, and the check does the rest', () => {
    const streams = [
      'report-acme.1',
      'report-acme2.1',
      'report-acm.1',
      'note-acme.1',
      'report-other.1-with-acme.dash',
      'acme.1',
      '$ce-report',
      '$$report-acme.1',
      '-acme.1',
    ];
    const tenantRegex = new RegExp((serverFilterOf({ tenantId: 'acme' }) as { regex: string }).regex);
    expect(streams.filter((s) => tenantRegex.test(s))).toEqual(['report-acme.1', 'note-acme.1', '-acme.1']);
    expect(streams.filter((s) => matchesLogFilter({ tenantId: 'acme' }, s, 'A'))).toEqual([
      'report-acme.1',
      'note-acme.1',
      '-acme.1',
    ]);
    const typeRegex = new RegExp((serverFilterOf({ eventTypes: ['A', 'B+'] }) as { regex: string }).regex);
    expect(['A', 'B+', 'AB', 'BB', 'a', '$A'].filter((t) => typeRegex.test(t))).toEqual(['A', 'B+']);
    const userStreams = new RegExp((serverFilterOf() as { regex: string }).regex);
    expect(streams.filter((s) => userStreams.test(s))).toHaveLength(7);
  });

  it('checks every dimension in process, and never lets a system stream or event type through', () => {
    const cases: [LogFilter, string, string, boolean][] = [
      [{}, 'report-acme.1', 'ReportReady', true],
      [{}, '$ce-report', 'ReportReady', false],
      [{}, 'report-acme.1', '$>', false],
      [{ categories: ['report'] }, 'report-acme.1', 'A', true],
      [{ categories: ['report'] }, 'reports-acme.1', 'A', false],
      [{ categories: ['report'] }, 'report', 'A', false],
      [{ categories: [''] }, 'report', 'A', true],
      [{ tenantId: 'acme' }, 'report-acme.1', 'A', true],
      [{ tenantId: 'acme' }, 'report-acme2.1', 'A', false],
      [{ tenantId: 'acme' }, 'acme.1', 'A', false],
      [{ categories: ['report'], tenantId: 'acme', eventTypes: ['A'] }, 'report-acme.1', 'A', true],
      [{ categories: ['report'], tenantId: 'acme', eventTypes: ['A'] }, 'report-acme.1', 'B', false],
      [{ categories: ['report'], tenantId: 'acme', eventTypes: ['A'] }, 'note-acme.1', 'A', false],
      [{ eventTypes: [] }, 'report-acme.1', 'A', false],
    ];
    for (const [filter, streamName, type, expected] of cases)
      expect([filter, streamName, type, matchesLogFilter(filter, streamName, type)]).toEqual([
        filter,
        streamName,
        type,
        expected,
      ]);
  });
});

describe('KurrentDB mapping: recorded events', () => {
  const recorded = (overrides: Partial<AllStreamRecordedEvent> = {}) =>
    ({
      streamId: 'report-acme.1',
      id: '5b0c7d3e-9f1a-4c55-8c1e-2f5d7c0a9e11',
      isJson: true,
      revision: 3n,
      type: 'ReportReady',
      created: new Date('2026-11-30T12:00:00Z'),
      data: { n: 1 },
      metadata: { tenantId: 'acme', correlationId: 'c' },
      position: { commit: 2n ** 60n, prepare: 2n ** 60n - 1n },
      ...overrides,
    }) as AllStreamRecordedEvent;

  it('keeps id, stream, revision, type, data, metadata and time, and carries the position as a checkpoint', () => {
    expect(toRecordedEvent(recorded())).toEqual({
      id: '5b0c7d3e-9f1a-4c55-8c1e-2f5d7c0a9e11',
      streamName: 'report-acme.1',
      revision: 3,
      type: 'ReportReady',
      data: { n: 1 },
      metadata: { tenantId: 'acme', correlationId: 'c' },
      checkpoint: `${2n ** 60n}/${2n ** 60n - 1n}`,
      createdAt: new Date('2026-11-30T12:00:00Z'),
    });
  });

  it('refuses events Conflux did not write (binary, no JSON metadata) and events without a position', () => {
    expect(() => toRecordedEvent(recorded({ isJson: false }))).toThrow(TypeError);
    expect(() => toRecordedEvent(recorded({ metadata: undefined }))).toThrow(TypeError);
    expect(() => toRecordedEvent(recorded({ metadata: new Uint8Array([1]) }))).toThrow(TypeError);
    expect(() => toRecordedEvent(recorded({ position: undefined }))).toThrow(/no \$all position/);
  });
});
