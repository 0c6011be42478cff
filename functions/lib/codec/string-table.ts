/**
 * Short strings decoded through a fixed table. A device's id arrives in every one of its readings;
 * turning its bytes into a string afresh (`Buffer#utf8Slice`, a call into C++) costs more than
 * hashing the few bytes and finding the string made the last time. Handing back the same string
 * object also makes the detector's `Map` lookups by id cheaper: a string's hash is computed once
 * and kept on it.
 *
 * By hand because no library offers it for Buffers read in place; the table is bounded (SLOTS
 * entries of at most MAX_BYTES each, a colliding entry overwrites), so a fleet larger than the
 * table costs a hash and a copy per miss, never memory.
 *
 * A fleet much larger than the table makes it a loss: most lookups miss, and even a hit reads
 * three places in 650 KB the CPU cache no longer holds. With 20,000 gateway sensors, decoding
 * without the table was faster (0.68-0.76 against 0.90-1.16 µs a reading, validate alone), while
 * with 100 devices the table still saved 120-370 ns a reading on the fused hot path. So the table
 * watches its misses: when more than half of a window of lookups missed, it steps aside (a plain
 * `utf8Slice`) for BYPASS_LOOKUPS lookups, then tries again.
 */
const SLOTS = 1 << 14;
/** Lookups per measuring window. */
export const WINDOW = 4096;
/** Lookups done without the table after a window that mostly missed (about 7 s at 150,000/s). */
export const BYPASS_LOOKUPS = 1 << 20;
/** Node's Buffer has it (avsc's own string reader uses it); @types/node does not declare it. */
type Utf8Sliceable = Buffer & { utf8Slice(start: number, end: number): string };
export const MAX_INTERNED_BYTES = 32;

export class StringTable {
  readonly #bytes = new Uint8Array(SLOTS * MAX_INTERNED_BYTES);
  /** Length + 1 of the entry in each slot; 0 for an empty slot. */
  readonly #lengths = new Uint8Array(SLOTS);
  readonly #strings: string[] = new Array<string>(SLOTS).fill('');
  #lookups = 0;
  #misses = 0;
  #bypass = 0;
  /** Lookups the table answered, missed, and left to `utf8Slice` while stepped aside. */
  readonly stats = { hits: 0, misses: 0, bypassed: 0 };

  /** The UTF-8 string in `buf[start, start + length)`; `length` at most MAX_INTERNED_BYTES. */
  get(buf: Buffer, start: number, length: number): string {
    if (this.#bypass > 0) {
      this.#bypass--;
      this.stats.bypassed++;
      return (buf as Utf8Sliceable).utf8Slice(start, start + length);
    }
    if (++this.#lookups === WINDOW) {
      if (this.#misses * 2 > WINDOW) this.#bypass = BYPASS_LOOKUPS;
      this.#lookups = 0;
      this.#misses = 0;
    }
    let h = 0x811c9dc5; // FNV-1a
    for (let i = 0; i < length; i++) h = Math.imul(h ^ buf[start + i]!, 0x01000193);
    const slot = (h ^ (h >>> 15)) & (SLOTS - 1);
    const bytes = this.#bytes;
    const at = slot * MAX_INTERNED_BYTES;
    if (this.#lengths[slot] === length + 1) {
      let i = 0;
      while (i < length && bytes[at + i] === buf[start + i]) i++;
      if (i === length) {
        this.stats.hits++;
        return this.#strings[slot]!;
      }
    }
    this.#misses++;
    this.stats.misses++;
    const text = (buf as Utf8Sliceable).utf8Slice(start, start + length);
    for (let i = 0; i < length; i++) bytes[at + i] = buf[start + i]!;
    this.#lengths[slot] = length + 1;
    this.#strings[slot] = text;
    return text;
  }
}
