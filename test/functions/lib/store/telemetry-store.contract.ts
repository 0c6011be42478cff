/**
 * The TelemetryStore contract: every store (DuckDB, Timestream, InfluxDB) runs this same suite.
 * A store supplies how to open a fresh, empty instance and how to read its readings back, and,
 * if it can refuse single readings, how to make it refuse one.
 *
 * Counting follows `store.redelivery`: a store that upserts may count a reading redelivered in a
 * later batch as written; every store counts repeats within a batch as duplicates, and no store
 * ever holds a reading twice.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IngestError } from '../../../../functions/lib/errors.ts';
import type { Reading } from '../../../../functions/lib/reading.ts';
import type { StoredReading, TelemetryStore, WriteResult } from '../../../../functions/lib/store/types.ts';
import { aReading } from '../../../support/readings.ts';

export interface StoreHarness<S extends TelemetryStore> {
  /** A fresh, empty store. */
  open(): Promise<S>;
  /** Every stored reading, in (deviceId, ts, seq) order, receivedAt included when the store keeps it. */
  readBack(store: S): Promise<StoredReading[]>;
  /** Releases what `open` made (temp directories, tables); the store is closed already. */
  cleanUp?(): Promise<void>;
  /**
   * For stores that refuse single readings while taking the rest of a batch: returns a reading
   * (`base`, changed if need be) that `store` will refuse, arranging whatever that takes.
   */
  refuse?(store: S, base: StoredReading): StoredReading | Promise<StoredReading>;
  /** What the store's reason for that refusal says. */
  refusal?: RegExp;
}

const T0 = Date.UTC(2024, 5, 10, 8, 0, 0, 123);

/** `n` distinct readings of one device, 1 s apart. */
function aSeries(n: number, overrides: Partial<Reading> = {}): Reading[] {
  return Array.from({ length: n }, (_, i) => aReading({ ts: T0 + i * 1000, seq: i, ...overrides }));
}

/** What a later batch that repeats `repeated` readings and adds `fresh` ones should report. */
function redeliveryCounts(store: TelemetryStore, repeated: number, fresh: number): WriteResult {
  return (store.redelivery ?? 'counted') === 'counted'
    ? { written: fresh, duplicates: repeated }
    : { written: fresh + repeated, duplicates: 0 };
}

export function describeTelemetryStoreContract<S extends TelemetryStore>(
  name: string,
  harness: StoreHarness<S>,
): void {
  describe(`${name} (TelemetryStore contract)`, () => {
    let store: S;
    let closed: boolean;

    beforeEach(async () => {
      store = await harness.open();
      closed = false;
    });

    afterEach(async () => {
      if (!closed) await store.close();
      await harness.cleanUp?.();
    });

    it('reads back what it wrote, field for field', async () => {
      // Prepare
      const readings: StoredReading[] = [
        {
          ...aReading({ deviceId: 'dev-a', ts: T0, seq: 1, temperature: 21.25, humidity: 40.5 }),
          receivedAt: T0 + 7,
        },
        aReading({ deviceId: 'dev-b', ts: T0 + 1, seq: 9_007_199_254, battery: 0, vibration: -0.125 }),
      ];

      // Act
      const result = await store.writeReadings(readings);

      // Assess
      expect(result).toEqual({ written: 2, duplicates: 0 });
      expect(await harness.readBack(store)).toEqual(readings);
    });

    it('keeps null metrics null and round-trips tags', async () => {
      // Prepare
      const readings = [
        aReading({
          ts: T0,
          seq: 1,
          temperature: null,
          humidity: null,
          pressure: null,
          vibration: null,
          battery: null,
        }),
        aReading({ ts: T0, seq: 2, tags: { site: 'plant-7', 'fw version': '1.4.2-rc"1"', empty: '' } }),
        aReading({ ts: T0, seq: 3, tags: {} }),
      ];

      // Act
      await store.writeReadings(readings);

      // Assess
      expect(await harness.readBack(store)).toEqual(readings);
    });

    it('drops a reading repeated within one batch and counts it', async () => {
      // Prepare
      const [first, second] = aSeries(2);
      const batch = [first!, second!, { ...first! }, { ...first! }];

      // Act
      const result = await store.writeReadings(batch);

      // Assess
      expect(result).toEqual({ written: 2, duplicates: 2 });
      expect(await harness.readBack(store)).toHaveLength(2);
    });

    it('drops readings redelivered in a later batch and counts them', async () => {
      // Prepare
      const series = aSeries(10);
      await store.writeReadings(series.slice(0, 6));

      // Act: a redelivery overlapping the first batch, plus new readings
      const result = await store.writeReadings(series.slice(3));

      // Assess
      expect(result).toEqual(redeliveryCounts(store, 3, 4));
      expect((await harness.readBack(store)).map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('stores a reading received twice (a device re-publish) once', async () => {
      // Prepare: the same reading, received by the bridge twice
      const reading = aReading({ ts: T0, seq: 7 });
      await store.writeReadings([{ ...reading, receivedAt: T0 + 10 }]);

      // Act
      const result = await store.writeReadings([{ ...reading, receivedAt: T0 + 900 }]);

      // Assess
      expect(result.written + result.duplicates).toBe(1);
      expect(result.rejected ?? []).toEqual([]);
      const stored = await harness.readBack(store);
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject(reading);
    });

    it('tells readings apart by device, timestamp and seq', async () => {
      // Prepare: each differs from the first in exactly one part of the key
      const batch = [
        aReading({ deviceId: 'dev-1', ts: T0, seq: 1 }),
        aReading({ deviceId: 'dev-2', ts: T0, seq: 1 }),
        aReading({ deviceId: 'dev-1', ts: T0 + 1, seq: 1 }),
        aReading({ deviceId: 'dev-1', ts: T0, seq: 2 }),
      ];

      // Act
      const result = await store.writeReadings(batch);

      // Assess
      expect(result).toEqual({ written: 4, duplicates: 0 });
    });

    it('accepts an empty batch', async () => {
      // Act
      const result = await store.writeReadings([]);

      // Assess
      expect(result).toEqual({ written: 0, duplicates: 0 });
    });

    it('keeps every reading when writes overlap in time', async () => {
      // Prepare
      const series = aSeries(300);

      // Act: three writes in flight at once, two of them overlapping
      const results = await Promise.all([
        store.writeReadings(series.slice(0, 150)),
        store.writeReadings(series.slice(100, 250)),
        store.writeReadings(series.slice(250)),
      ]);

      // Assess
      const total = (key: 'written' | 'duplicates') => results.reduce((sum, r) => sum + r[key], 0);
      if ((store.redelivery ?? 'counted') === 'counted')
        expect([total('written'), total('duplicates')]).toEqual([300, 50]);
      else expect(total('written') + total('duplicates')).toBe(350);
      expect(await harness.readBack(store)).toHaveLength(300);
    });

    it.skipIf(harness.refuse === undefined)(
      'takes the rest of a batch when it refuses a reading, and says why',
      async () => {
        // Prepare
        const [first, second, third] = aSeries(3);
        const refused = await harness.refuse!(store, second!);
        const batch = [first!, refused, third!];

        // Act
        const result = await store.writeReadings(batch);
        const again = await store.writeReadings(batch); // a redelivery is refused again, not lost

        // Assess
        expect(result).toEqual({
          written: 2,
          duplicates: 0,
          rejected: [{ reading: refused, reason: expect.stringMatching(harness.refusal ?? /./) }],
        });
        expect(again.rejected?.map((r) => r.reading)).toEqual([refused]);
        expect(again.written + again.duplicates).toBe(2);
        expect(await harness.readBack(store)).toEqual([first, third]);
      },
    );

    it('refuses writes once closed, with a typed error', async () => {
      // Prepare
      await store.close();
      closed = true;

      // Act
      const write = store.writeReadings(aSeries(1));

      // Assess
      await expect(write).rejects.toBeInstanceOf(IngestError);
      await expect(write).rejects.toMatchObject({ code: 'STORE_WRITE_FAILED' });
    });
  });
}
