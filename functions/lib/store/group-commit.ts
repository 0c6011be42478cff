/**
 * Group commit: batches submitted while an earlier write is still running wait together and go
 * into the store in one transaction, as databases do with their log flushes. A store with one
 * writer then pays its fixed cost per transaction (planning, the duplicate check, the WAL commit)
 * once per group instead of once per caller, so many small concurrent batches (one per stream
 * partition) cost about what one large batch does.
 *
 * Each caller still gets its own result. When a transaction of several batches fails, each batch is
 * tried again alone, so a batch the store refuses (a poison record) fails only its own caller, and
 * the others, which happened to share its group, are not retried or dead-lettered for it.
 */
export interface GroupCommitOptions<T, R> {
  /**
   * Writes every batch of a group in one transaction and returns one result per batch, in order.
   * Throws when nothing of the group was written.
   */
  commit(batches: readonly (readonly T[])[]): Promise<R[]>;
  /** Runs `task` after the writes queued before it; the store's one-writer queue. */
  serial<V>(task: () => Promise<V>): Promise<V>;
  /** A group closes once it holds this many items (a larger batch still goes alone). Bounds memory. */
  maxItems: number;
}

interface Waiter<R> {
  resolve(result: R): void;
  reject(error: unknown): void;
}

interface Group<T, R> {
  batches: (readonly T[])[];
  waiters: Waiter<R>[];
  items: number;
}

export class GroupCommit<T, R> {
  readonly #options: GroupCommitOptions<T, R>;
  /** The group that has not started yet and still takes batches. */
  #open: Group<T, R> | undefined;

  constructor(options: GroupCommitOptions<T, R>) {
    this.#options = options;
  }

  submit(batch: readonly T[]): Promise<R> {
    let group = this.#open;
    if (group === undefined || group.items + batch.length > this.#options.maxItems) {
      const fresh: Group<T, R> = { batches: [], waiters: [], items: 0 };
      this.#open = group = fresh;
      // Queued, not awaited here: callers join `fresh` until the queue reaches it.
      void this.#options.serial(() => this.#flush(fresh));
    }
    group.batches.push(batch);
    group.items += batch.length;
    return new Promise<R>((resolve, reject) => group.waiters.push({ resolve, reject }));
  }

  /** Batches submitted from now on go to a new group, queued after whatever is queued next (close). */
  seal(): void {
    this.#open = undefined;
  }

  async #flush(group: Group<T, R>): Promise<void> {
    if (this.#open === group) this.#open = undefined;
    const { batches, waiters } = group;
    try {
      const results = await this.#options.commit(batches);
      for (let i = 0; i < waiters.length; i++) waiters[i]!.resolve(results[i]!);
      return;
    } catch (error) {
      if (batches.length === 1) {
        waiters[0]!.reject(error);
        return;
      }
    }
    for (let i = 0; i < batches.length; i++) {
      try {
        const [result] = await this.#options.commit([batches[i]!]);
        waiters[i]!.resolve(result!);
      } catch (error) {
        waiters[i]!.reject(error);
      }
    }
  }
}
