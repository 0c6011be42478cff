import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../lib/atomic-file.ts';

/**
 * Durable Kinesis checkpoints: the last processed sequence number per shard, one JSON file per
 * mapping, replaced atomically and durably (writeFileAtomic) so a crash leaves the old or the new one.
 */
export class FileCheckpoints {
  readonly #file: string;
  #positions: Record<string, string>;
  #writing: Promise<void> = Promise.resolve();

  constructor(dir: string, mappingName: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.#file = path.join(dir, `${mappingName}.json`);
    this.#positions = fs.existsSync(this.#file)
      ? (JSON.parse(fs.readFileSync(this.#file, 'utf8')) as Record<string, string>)
      : {};
  }

  get(shardId: string): string | undefined {
    return this.#positions[shardId];
  }

  /**
   * Records a shard's position. Writes are chained: shards of one mapping checkpoint concurrently
   * and share one file, so each write waits for the one before it and writes the latest state.
   */
  set(shardId: string, sequenceNumber: string): Promise<void> {
    this.#positions[shardId] = sequenceNumber;
    this.#writing = this.#writing.catch(() => undefined).then(() => this.#write());
    return this.#writing;
  }

  #write(): Promise<void> {
    return writeFileAtomic(this.#file, JSON.stringify(this.#positions), { durable: true });
  }
}
