/**
 * The telemetry schema registry. `schemas/*.avsc` is the registry of record: `telemetry.avsc` is the
 * current reader schema, `history/telemetry-*.avsc` are the other writer versions devices may still
 * (or already) send, and `confluent-ids.json` maps Confluent wire-format schema ids to those files.
 *
 * Every writer schema is compiled once, its resolver to the reader built once, and both cached by
 * the CRC-64-AVRO fingerprint of its Parsing Canonical Form. Nothing here runs per record except
 * `writerAt` / `lookupConfluentId`, which are lookups.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Type, types } from 'avsc';
import { ConfigError, errorMessage, IngestError, RejectedRecordError } from '../errors.ts';
import { type AvroReader, type CompileOptions, compileSchema } from './avro-binary.ts';
import { parsingCanonicalForm, type SchemaFingerprint, schemaFingerprint } from './crc64-avro.ts';
import { compileJsonReader } from './json-reader.ts';
import type { ContainerWriterBinding } from './object-container.ts';
import { singleObjectHeader } from './single-object.ts';

export const DEFAULT_SCHEMA_DIR = fileURLToPath(new URL('../../../schemas', import.meta.url));

const READER_FILE = 'telemetry.avsc';
const HISTORY_DIR = 'history';
const HISTORY_FILE = /^telemetry-.+\.avsc$/;
const CONFLUENT_IDS_FILE = 'confluent-ids.json';
/** Telemetry's device ids repeat in every reading: decode them through the string table. */
const TELEMETRY: CompileOptions = { internStrings: true };
/** Distinct writer schemas embedded in containers that are kept compiled. */
const CONTAINER_SCHEMA_CACHE_SIZE = 64;

/** One writer schema, compiled, with what reads its bodies as the current reader schema. */
export interface WriterSchema extends ContainerWriterBinding {
  /** Hex of the 8 fingerprint bytes in wire order (as they follow `C3 01`). */
  readonly fingerprint: string;
  readonly fingerprintValue: bigint;
  readonly fingerprintBytes: Buffer;
  readonly canonicalForm: string;
  /** C3 01 + the fingerprint bytes: what a single-object payload of this schema starts with. */
  readonly singleObjectHeader: Buffer;
  /** Where the schema came from: a file under the schema directory, or how it was registered. */
  readonly source: string;
}

/** The schema files, read; kept apart so the sync and async loaders share the rest. */
interface SchemaSources {
  readonly reader: string;
  readonly history: ReadonlyArray<{ file: string; text: string }>;
  readonly confluentIds: string | undefined;
  readonly readFile: (file: string) => string | undefined;
}

export class SchemaRegistry {
  readonly readerType: Type;
  /** The current schema as a writer: the fast path, read with no resolver. */
  readonly current: WriterSchema;
  /** Converts a parsed JSON reading to the reader schema's shape (see json-reader.ts). */
  readonly readJson: (value: unknown) => unknown;

  readonly #byFingerprint = new Map<bigint, WriterSchema>();
  readonly #byConfluentId = new Map<number, WriterSchema>();
  readonly #containerSchemas = new Map<string, WriterSchema | RejectedRecordError>();
  readonly #currentLo: number;
  readonly #currentHi: number;

  /**
   * Loads `dir` synchronously: a handful of small files, read once at a cold start, before any
   * record; being synchronous lets handlers build their dependencies without awaiting.
   */
  static load(dir: string = DEFAULT_SCHEMA_DIR): SchemaRegistry {
    const read = (file: string, required: boolean): string | undefined => {
      try {
        return readFileSync(join(dir, file), 'utf8');
      } catch (error) {
        return missing(dir, file, required, error);
      }
    };
    let listing: string[] = [];
    try {
      listing = readdirSync(join(dir, HISTORY_DIR));
    } catch (error) {
      missing(dir, HISTORY_DIR, false, error);
    }
    const history = historyFiles(listing);
    return new SchemaRegistry({
      reader: read(READER_FILE, true) as string,
      history: history.map((file) => ({ file, text: read(file, true) as string })),
      confluentIds: read(CONFLUENT_IDS_FILE, false),
      readFile: (file) => read(file, false),
    });
  }

  /** `load` without blocking the event loop, for long-running processes that start other work meanwhile. */
  static async loadAsync(dir: string = DEFAULT_SCHEMA_DIR): Promise<SchemaRegistry> {
    const read = async (file: string, required: boolean): Promise<string | undefined> => {
      try {
        return await readFile(join(dir, file), 'utf8');
      } catch (error) {
        return missing(dir, file, required, error);
      }
    };
    let listing: string[] = [];
    try {
      listing = await readdir(join(dir, HISTORY_DIR));
    } catch (error) {
      missing(dir, HISTORY_DIR, false, error);
    }
    const history = historyFiles(listing);
    const [reader, confluentIds, ...texts] = await Promise.all([
      read(READER_FILE, true),
      read(CONFLUENT_IDS_FILE, false),
      ...history.map((file) => read(file, true)),
    ]);
    // A file confluent-ids.json names outside history/ is read when the ids are loaded.
    const others = new Map<string, string | undefined>();
    for (const file of confluentIdFiles(confluentIds)) {
      if (file !== READER_FILE && !history.includes(file)) others.set(file, await read(file, false));
    }
    return new SchemaRegistry({
      reader: reader as string,
      history: history.map((file, i) => ({ file, text: texts[i] as string })),
      confluentIds,
      readFile: (file) => others.get(file),
    });
  }

  private constructor(sources: SchemaSources) {
    this.readerType = compileFile(READER_FILE, sources.reader);
    if (this.readerType.typeName !== 'record') {
      throw new ConfigError(`${READER_FILE} must define a record, not ${this.readerType.typeName}`);
    }
    const fingerprint = schemaFingerprint(this.readerType);
    this.current = this.#entry(
      this.readerType,
      fingerprint,
      this.readerType as unknown as AvroReader,
      READER_FILE,
    );
    this.#byFingerprint.set(fingerprint.value, this.current);
    this.#currentLo = fingerprint.bytes.readInt32LE(0);
    this.#currentHi = fingerprint.bytes.readInt32LE(4);
    this.readJson = compileJsonReader(this.readerType);

    const byFile = new Map<string, WriterSchema>([[READER_FILE, this.current]]);
    for (const { file, text } of sources.history) byFile.set(file, this.#registerFile(file, text));
    if (sources.confluentIds !== undefined)
      this.#loadConfluentIds(sources.confluentIds, byFile, sources.readFile);
  }

  get readerFingerprint(): string {
    return this.current.fingerprint;
  }

  /** Fingerprints of every writer schema known, current first. */
  fingerprints(): string[] {
    return [...this.#byFingerprint.values()].map((entry) => entry.fingerprint);
  }

  /**
   * Adds a writer schema at run time (e.g. to replay dead letters once the schema that wrote them is
   * known). Idempotent. Throws SCHEMA_MISMATCH when it cannot be read as the current schema.
   * Persist it under schemas/history/ as well, or it is gone at the next start.
   */
  register(schema: string | object, source = 'registered at run time'): WriterSchema {
    let type: Type;
    try {
      type = compileSchema(schema, TELEMETRY);
    } catch (error) {
      throw new IngestError(
        'SCHEMA_MISMATCH',
        `not a valid Avro schema (${source}): ${errorMessage(error)}`,
        { cause: error },
      );
    }
    return this.#add(type, source);
  }

  lookupFingerprint(fingerprint: string | bigint | Uint8Array): WriterSchema | undefined {
    if (typeof fingerprint === 'bigint') return this.#byFingerprint.get(BigInt.asUintN(64, fingerprint));
    const bytes = typeof fingerprint === 'string' ? Buffer.from(fingerprint, 'hex') : fingerprint;
    if (bytes.length !== 8) return undefined;
    return this.#byFingerprint.get(Buffer.from(bytes.buffer, bytes.byteOffset, 8).readBigUInt64LE(0));
  }

  /**
   * The writer whose fingerprint is the 8 bytes at `offset` (the caller has checked they exist).
   * Hot path: the current schema costs two int32 compares, composed by hand because
   * Buffer#readInt32LE's argument checks cost more than the rest of the lookup.
   */
  writerAt(buf: Buffer, offset: number): WriterSchema | undefined {
    const lo =
      (buf[offset] as number) |
      ((buf[offset + 1] as number) << 8) |
      ((buf[offset + 2] as number) << 16) |
      ((buf[offset + 3] as number) << 24);
    const hi =
      (buf[offset + 4] as number) |
      ((buf[offset + 5] as number) << 8) |
      ((buf[offset + 6] as number) << 16) |
      ((buf[offset + 7] as number) << 24);
    if (lo === this.#currentLo && hi === this.#currentHi) return this.current;
    return this.#byFingerprint.get((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
  }

  lookupConfluentId(id: number): WriterSchema | undefined {
    return this.#byConfluentId.get(id);
  }

  confluentIds(): number[] {
    return [...this.#byConfluentId.keys()];
  }

  /**
   * The binding for a schema embedded in an object container, compiled once per distinct text (a
   * bounded cache, so a stream of one-off schemas cannot grow memory). Containers are
   * self-describing, so their schema need not be registered, only readable as the current one.
   */
  writerForContainerSchema(schemaText: string): WriterSchema {
    let cached = this.#containerSchemas.get(schemaText);
    if (cached === undefined) {
      cached = this.#bindContainerSchema(schemaText);
      if (this.#containerSchemas.size >= CONTAINER_SCHEMA_CACHE_SIZE) {
        this.#containerSchemas.delete(this.#containerSchemas.keys().next().value as string);
      }
      this.#containerSchemas.set(schemaText, cached);
    }
    if (cached instanceof RejectedRecordError) throw cached;
    return cached;
  }

  #bindContainerSchema(schemaText: string): WriterSchema | RejectedRecordError {
    let type: Type;
    try {
      type = compileSchema(schemaText, TELEMETRY);
    } catch (error) {
      return new RejectedRecordError(
        'AVRO_INVALID',
        `Avro container schema is not a valid Avro schema: ${errorMessage(error)}`,
        error,
      );
    }
    const fingerprint = schemaFingerprint(type);
    const known = this.#byFingerprint.get(fingerprint.value);
    if (known) return known;
    try {
      return this.#entry(type, fingerprint, this.#resolver(type), 'an Avro container');
    } catch (error) {
      return new RejectedRecordError('SCHEMA_MISMATCH', errorMessage(error), error);
    }
  }

  #registerFile(file: string, text: string): WriterSchema {
    try {
      return this.#add(compileFile(file, text), file);
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(`${file}: ${errorMessage(error)}`, error);
    }
  }

  #add(type: Type, source: string): WriterSchema {
    const fingerprint = schemaFingerprint(type);
    const known = this.#byFingerprint.get(fingerprint.value);
    if (known) return known;
    const entry = this.#entry(type, fingerprint, this.#resolver(type, source), source);
    this.#byFingerprint.set(fingerprint.value, entry);
    return entry;
  }

  #resolver(writerType: Type, source = 'an Avro container'): AvroReader {
    try {
      return this.readerType.createResolver(writerType) as unknown as AvroReader;
    } catch (error) {
      const readerName = (this.readerType as types.RecordType).name;
      throw new IngestError(
        'SCHEMA_MISMATCH',
        `the writer schema from ${source} cannot be read as the current ${readerName} (${READER_FILE}): ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }

  #entry(type: Type, fingerprint: SchemaFingerprint, reader: AvroReader, source: string): WriterSchema {
    return Object.freeze({
      fingerprint: fingerprint.hex,
      fingerprintValue: fingerprint.value,
      fingerprintBytes: fingerprint.bytes,
      canonicalForm: parsingCanonicalForm(type),
      singleObjectHeader: singleObjectHeader(fingerprint.bytes),
      source,
      reader,
      writerType: type,
      label: `Reading (writer schema ${fingerprint.hex} from ${source})`,
    });
  }

  #loadConfluentIds(
    text: string,
    byFile: Map<string, WriterSchema>,
    readSource: (file: string) => string | undefined,
  ): void {
    let ids: unknown;
    try {
      ids = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`${CONFLUENT_IDS_FILE} is not valid JSON: ${errorMessage(error)}`, error);
    }
    if (ids === null || typeof ids !== 'object' || Array.isArray(ids)) {
      throw new ConfigError(`${CONFLUENT_IDS_FILE} must be an object like { "1": "telemetry.avsc" }`);
    }
    for (const [key, file] of Object.entries(ids)) {
      const id = Number(key);
      if (!/^\d+$/.test(key) || !Number.isSafeInteger(id) || id > 0x7fffffff) {
        throw new ConfigError(
          `${CONFLUENT_IDS_FILE}: "${key}" is not a schema id (a non-negative 32-bit integer)`,
        );
      }
      if (typeof file !== 'string') {
        throw new ConfigError(
          `${CONFLUENT_IDS_FILE}: id ${key} must name a schema file, e.g. "history/telemetry-v1.avsc"`,
        );
      }
      let entry = byFile.get(file);
      if (entry === undefined) {
        const schemaText = readSource(file);
        if (schemaText === undefined)
          throw new ConfigError(`${CONFLUENT_IDS_FILE}: id ${key} names ${file}, which does not exist`);
        entry = this.#registerFile(file, schemaText);
        byFile.set(file, entry);
      }
      this.#byConfluentId.set(id, entry);
    }
  }
}

function compileFile(file: string, text: string): Type {
  try {
    return compileSchema(JSON.parse(text) as unknown, TELEMETRY);
  } catch (error) {
    throw new ConfigError(`${file} is not a valid Avro schema: ${errorMessage(error)}`, error);
  }
}

function historyFiles(listing: readonly string[]): string[] {
  return listing
    .filter((name) => HISTORY_FILE.test(name))
    .sort()
    .map((name) => `${HISTORY_DIR}/${name}`);
}

/** The schema files confluent-ids.json names, if it parses; the constructor reports it otherwise. */
function confluentIdFiles(text: string | undefined): string[] {
  try {
    const ids = JSON.parse(text ?? '{}') as unknown;
    return ids !== null && typeof ids === 'object'
      ? Object.values(ids).filter((v) => typeof v === 'string')
      : [];
  } catch {
    return [];
  }
}

/** Undefined for an optional file that does not exist; a ConfigError naming the path otherwise. */
function missing(dir: string, file: string, required: boolean, error: unknown): undefined {
  if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw new ConfigError(`cannot read schema file ${join(dir, file)}: ${errorMessage(error)}`, error);
}
