/**
 * Talking to the harness's child processes (the Kafka mock, kinesalite) over their stdout: one line
 * at a time, each wait bounded.
 */
import type { ChildProcess } from 'node:child_process';

/** Pull-style reader over the child's stdout lines; next() yields undefined once it has exited. */
export function lineReader(child: ChildProcess): { next(): Promise<string | undefined> } {
  const buffered: string[] = [];
  const waiters: Array<(line: string | undefined) => void> = [];
  let partial = '';
  let closed = false;
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else buffered.push(line);
    }
  });
  child.stdout?.on('close', () => {
    closed = true;
    for (const waiter of waiters.splice(0)) waiter(undefined);
  });
  return {
    next: () => {
      const line = buffered.shift();
      if (line !== undefined || closed) return Promise.resolve(line);
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
