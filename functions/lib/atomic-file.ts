import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface AtomicWriteOptions {
  /** fsync the data and the directory entry: after a crash or power loss the file is the old or the new one. */
  durable?: boolean;
  /** File mode of a newly written file (e.g. 0o600 for one holding a token). */
  mode?: number;
}

/**
 * Writes `data` beside `file` and renames it into place, so a reader sees the old file or the new
 * one, never half of one. Writers of the same file must not run concurrently (the temporary name is
 * per process).
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array | readonly Uint8Array[],
  options: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await open(tmp, 'w', options.mode);
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) await handle.writeFile(data);
    else await handle.writev(data as Uint8Array[]);
    if (options.durable) await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
  if (options.durable) {
    // The rename is durable only once the directory entry is.
    const dir = await open(dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
