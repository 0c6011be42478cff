import { describe, expect, it } from 'vitest';
import { Random } from '../../simulators/random.ts';
import { DueHeap } from '../../simulators/schedule.ts';

describe('DueHeap', () => {
  it('pops indices in order of due time', () => {
    // Prepare
    const random = new Random(7);
    const heap = new DueHeap(1_000);
    const due = Array.from({ length: 1_000 }, () => random.next() * 10_000);
    for (const [i, d] of due.entries()) heap.push(d, i);

    // Act
    const order: number[] = [];
    while (heap.size > 0) order.push(heap.pop());

    // Assess
    expect(order).toHaveLength(1_000);
    expect(new Set(order).size).toBe(1_000);
    for (let i = 1; i < order.length; i++)
      expect(due[order[i]!]!).toBeGreaterThanOrEqual(due[order[i - 1]!]!);
  });

  it('reports the earliest due time, Infinity when empty', () => {
    const heap = new DueHeap(3);
    expect(heap.peekDue()).toBe(Number.POSITIVE_INFINITY);
    heap.push(30, 0);
    heap.push(10, 1);
    expect(heap.peekDue()).toBe(10);
    expect(heap.pop()).toBe(1);
    expect(heap.peekDue()).toBe(30);
  });
});
