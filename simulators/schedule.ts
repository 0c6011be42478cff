/**
 * A min-heap of (due time, index) in typed arrays: the simulator pops only what is due, so 100,000
 * devices at 0.1 Hz cost 10,000 pops a second, not a scan of every device on every tick.
 */
export class DueHeap {
  readonly #due: Float64Array;
  readonly #index: Int32Array;
  #size = 0;

  constructor(capacity: number) {
    this.#due = new Float64Array(capacity);
    this.#index = new Int32Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Due time of the earliest entry (Infinity when empty). */
  peekDue(): number {
    return this.#size > 0 ? this.#due[0]! : Number.POSITIVE_INFINITY;
  }

  push(due: number, index: number): void {
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#due[parent]! <= due) break;
      this.#due[i] = this.#due[parent]!;
      this.#index[i] = this.#index[parent]!;
      i = parent;
    }
    this.#due[i] = due;
    this.#index[i] = index;
  }

  /** Removes the earliest entry and returns its index. */
  pop(): number {
    const top = this.#index[0]!;
    const size = --this.#size;
    if (size === 0) return top;
    const due = this.#due[size]!;
    const index = this.#index[size]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && this.#due[child + 1]! < this.#due[child]!) child++;
      if (this.#due[child]! >= due) break;
      this.#due[i] = this.#due[child]!;
      this.#index[i] = this.#index[child]!;
      i = child;
    }
    this.#due[i] = due;
    this.#index[i] = index;
    return top;
  }
}
