import pLimit from 'p-limit';
import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../../../functions/lib/store/group-commit.ts';

/**
 * A store that records each transaction's batches and answers each batch with its own length. The
 * first transaction waits for release(), so a test can submit more while it runs.
 */
function aRecordingStore(options: { failWhen?: (batches: readonly (readonly number[])[]) => boolean } = {}) {
  const transactions: number[][][] = [];
  const serial = pLimit(1);
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started!: () => void;
  const firstStarted = new Promise<void>((resolve) => {
    started = resolve;
  });
  const groups = new GroupCommit<number, number>({
    async commit(batches) {
      transactions.push(batches.map((b) => [...b]));
      started();
      await released;
      if (options.failWhen?.(batches)) throw new Error(`refused ${JSON.stringify(batches)}`);
      return batches.map((b) => b.length);
    },
    serial: (task) => serial(task),
    maxItems: 5,
  });
  return { groups, transactions, firstStarted, release };
}

describe('GroupCommit', () => {
  it('commits the batches submitted while a write runs together, each caller getting its own result', async () => {
    // Prepare
    const { groups, transactions, firstStarted, release } = aRecordingStore();
    const first = groups.submit([1]);
    await firstStarted;

    // Act: three more while the first is being written
    const rest = [groups.submit([2, 3]), groups.submit([4]), groups.submit([5])];
    release();

    // Assess
    expect(await first).toBe(1);
    expect(await Promise.all(rest)).toEqual([2, 1, 1]);
    expect(transactions).toEqual([[[1]], [[2, 3], [4], [5]]]);
  });

  it('starts a new group once one holds maxItems, and sends a larger batch alone', async () => {
    // Prepare
    const { groups, transactions, firstStarted, release } = aRecordingStore();
    const busy = groups.submit([0]);
    await firstStarted;

    // Act
    const results = Promise.all([
      groups.submit([1, 2, 3]),
      groups.submit([4, 5]),
      groups.submit([6]),
      groups.submit([7, 8, 9, 10, 11, 12]),
    ]);
    release();

    // Assess: [1,2,3]+[4,5] fill a group of 5; [6] opens the next; the six go alone
    expect(await results).toEqual([3, 2, 1, 6]);
    await busy;
    expect(transactions).toEqual([
      [[0]],
      [
        [1, 2, 3],
        [4, 5],
      ],
      [[6]],
      [[7, 8, 9, 10, 11, 12]],
    ]);
  });

  it('when a group fails, tries each batch alone so only the refused batch fails', async () => {
    // Prepare: any transaction holding 13 fails
    const { groups, transactions, release } = aRecordingStore({
      failWhen: (batches) => batches.some((b) => b.includes(13)),
    });
    release();

    // Act
    const outcomes = await Promise.allSettled([
      groups.submit([1]),
      groups.submit([13]),
      groups.submit([2, 3]),
    ]);

    // Assess
    expect(outcomes[0]).toEqual({ status: 'fulfilled', value: 1 });
    expect(outcomes[1]).toMatchObject({ status: 'rejected', reason: { message: 'refused [[13]]' } });
    expect(outcomes[2]).toEqual({ status: 'fulfilled', value: 2 });
    expect(transactions).toEqual([[[1], [13], [2, 3]], [[1]], [[13]], [[2, 3]]]);
  });

  it('fails every caller when the store refuses each of their batches', async () => {
    // Prepare
    const { groups, release } = aRecordingStore({ failWhen: () => true });
    release();

    // Act
    const outcomes = await Promise.allSettled([groups.submit([1]), groups.submit([2]), groups.submit([3])]);

    // Assess
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
  });
});
