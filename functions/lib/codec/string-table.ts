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
 */
const SLOTS = 1 << 14;
/** Node's Buffer has it (avsc's own string reader uses it); @types/node does not declare it. */
type Utf8Sliceable = Buffer & { utf8Slice(start: number, end: number): string };
export const MAX_INTERNED_BYTES = 32;

export class StringTable {
  readonly #bytes = new Uint8Array(SLOTS * MAX_INTERNED_BYTES);
  /** Length + 1 of the entry in each slot; 0 for an empty slot. */
  readonly #lengths = new Uint8Array(SLOTS);
  readonly #strings: string[] = new Array<string>(SLOTS).fill('');

  /** The UTF-8 string in `buf[start, start + length)`; `length` at most MAX_INTERNED_BYTES. */
  get(buf: Buffer, start: number, length: number): string {
    let h = 0x811c9dc5; // FNV-1a
    for (let i = 0; i < length; i++) h = Math.imul(h ^ buf[start + i]!, 0x01000193);
    const slot = (h ^ (h >>> 15)) & (SLOTS - 1);
    const bytes = this.#bytes;
    const at = slot * MAX_INTERNED_BYTES;
    if (this.#lengths[slot] === length + 1) {
      let i = 0;
      while (i < length && bytes[at + i] === buf[start + i]) i++;
      if (i === length) return this.#strings[slot]!;
    }
    const text = (buf as Utf8Sliceable).utf8Slice(start, start + length);
    for (let i = 0; i < length; i++) bytes[at + i] = buf[start + i]!;
    this.#lengths[slot] = length + 1;
    this.#strings[slot] = text;
    return text;
  }
}
