/** Finding the system programs the harness runs (Mosquitto, InfluxDB). */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/**
 * `command` when it runs from PATH (probed with `probeArgs`), else the first of `candidates` that
 * is executable: Debian puts some servers in /usr/sbin, which is not on every user's PATH.
 */
export function findExecutable(
  command: string,
  probeArgs: readonly string[],
  candidates: readonly string[],
): string | undefined {
  const onPath = spawnSync(command, probeArgs, { stdio: 'ignore' });
  return onPath.error === undefined ? command : candidates.find(isExecutable);
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
