/**
 * ParallelizationFactor for Kinesis: up to N batches of one shard in flight at once, with records of
 * one partition key always in the same lane, so per-key (per-device) order is kept. Lambda does the
 * same and keeps the shard's checkpoint at the highest sequence number below which every record is
 * done (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html, "Polling and batching").
 */

/** A stable lane for a partition key: FNV-1a over its UTF-16 code units, modulo `lanes`. */
export function laneOf(key: string, lanes: number): number {
  if (lanes <= 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % lanes;
}

/**
 * Records of one shard in read order, and which are done. `advance()` moves over the done prefix and
 * says the sequence number to checkpoint, so lanes may finish out of order while the checkpoint
 * never passes a record that is not done.
 */
export class InOrderProgress {
  #order: string[] = [];
  #head = 0;
  readonly #done = new Set<string>();
  #checkpoint: string | undefined;

  add(sequenceNumber: string): void {
    this.#order.push(sequenceNumber);
  }

  complete(sequenceNumber: string): void {
    this.#done.add(sequenceNumber);
  }

  /** Records read and not yet behind the checkpoint. */
  get outstanding(): number {
    return this.#order.length - this.#head;
  }

  /** The new checkpoint if the done prefix grew, else undefined. */
  advance(): string | undefined {
    let moved = false;
    while (this.#head < this.#order.length) {
      const seq = this.#order[this.#head]!;
      if (!this.#done.delete(seq)) break;
      this.#checkpoint = seq;
      this.#head++;
      moved = true;
    }
    if (this.#head > 4096 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
    return moved ? this.#checkpoint : undefined;
  }
}
