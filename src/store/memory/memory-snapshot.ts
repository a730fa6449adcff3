import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { compareCodePoints } from '../key-order';
import { isKeyspaceId, type Keyspace } from '../keyspace';
import type { JsonValue, KvRecord } from '../kv.store';

/**
 * Snapshot files are NDJSON, one JSON document per line, so they can be written and read a chunk at a time
 * at any size and still be inspected with ordinary tools:
 *
 * 1. header: `{"format":"kv-store-snapshot","version":2,"keyspace":"<id>","base":B,"revision":R,"takenAt":"<ISO time>",
 *    "sections":[names]}`: the keyspace the revisions belong to and the revision it began at (version 1, written by
 *    kv-store 0.1, has no keyspace: it is read, and its data starts a new keyspace)
 * 2. one line per key, in key order: `[key, value, revision, createdAt, updatedAt, expiresAt]` (times in
 *    epoch milliseconds, expiresAt null for never)
 * 3. one line per item of each section: `{"section":"<name>","item":...}`
 * 4. end marker: `{"records":K,"sha256":"<hex>"}`, the SHA-256 of every byte before it. A file cut short has
 *    no end marker, and a changed byte anywhere before it changes the hash.
 */
export const SNAPSHOT_FORMAT = 'kv-store-snapshot';
export const SNAPSHOT_VERSION = 2;
/** The oldest version this one reads. */
const OLDEST_READABLE_VERSION = 1;
/** How every snapshot file begins. */
const SNAPSHOT_START = `{"format":"${SNAPSHOT_FORMAT}"`;

/** A snapshot that cannot be used (damaged, unreadable, unwritable location): stops the start with its one-line message. */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

/** The store's part of a snapshot: a point-in-time view of its records and revision. */
export interface StoreImage {
  /** The keyspace the revisions belong to; null in a version 1 snapshot, which did not record it. */
  readonly keyspace: Keyspace | null;
  readonly revision: number;
  /** When the view was taken, epoch milliseconds. */
  readonly takenAt: number;
  /** Records in key order. Iterated once, possibly across awaits, so it must not change under the iteration. */
  readonly records: Iterable<KvRecord>;
}

/** A whole snapshot: the store's image and the items of every section (see SnapshotSections). */
export interface Snapshot extends StoreImage {
  readonly sections: ReadonlyMap<string, readonly unknown[]>;
}

/** A snapshot read back from its file: records in an array, so their number is known. */
export interface LoadedSnapshot extends Snapshot {
  readonly records: readonly KvRecord[];
}

export interface WrittenSnapshot {
  readonly records: number;
  readonly bytes: number;
}

/** Serialised text is handed to the file in pieces of about this size; between pieces the event loop runs. */
const CHUNK_CHARS = 1 << 18;

const recordLine = (r: KvRecord): string => JSON.stringify([r.key, r.value, r.revision, r.createdAt, r.updatedAt, r.expiresAt]);

/**
 * Writes `snapshot` to `file` atomically: into a temporary file in the same directory, fsync'd, renamed over
 * `file`, then the directory fsync'd so the rename itself survives a power cut. A crash at any point leaves
 * either the previous snapshot or the new one, never a mix. The records are serialised a chunk at a time,
 * awaiting each write, so a large store does not hold up requests.
 */
export async function writeSnapshotFile(file: string, snapshot: Snapshot): Promise<WrittenSnapshot> {
  const temp = `${file}.tmp`;
  // Owner-only: the file holds every value and the webhook secrets.
  const handle = await open(temp, 'w', 0o600);
  const hash = createHash('sha256');
  let bytes = 0;
  let pending: string[] = [];
  let pendingChars = 0;
  const flush = async (): Promise<void> => {
    const chunk = Buffer.from(pending.join(''), 'utf8');
    pending = [];
    pendingChars = 0;
    hash.update(chunk);
    bytes += chunk.length;
    await handle.writeFile(chunk);
  };
  /** Queues one line; true when enough has piled up to hand it to the file (and let the event loop run). */
  const add = (line: string): boolean => {
    pending.push(line, '\n');
    pendingChars += line.length + 1;
    return pendingChars >= CHUNK_CHARS;
  };
  try {
    add(
      JSON.stringify({
        format: SNAPSHOT_FORMAT,
        version: SNAPSHOT_VERSION,
        keyspace: snapshot.keyspace?.id,
        base: snapshot.keyspace?.base,
        revision: snapshot.revision,
        takenAt: new Date(snapshot.takenAt).toISOString(),
        // Named here, under the checksum, so a section without items is restored (empty) too.
        sections: [...snapshot.sections.keys()],
      }),
    );
    let records = 0;
    for (const record of snapshot.records) {
      if (add(recordLine(record))) await flush();
      records++;
    }
    for (const [section, items] of snapshot.sections) {
      for (const item of items) if (add(JSON.stringify({ section, item }))) await flush();
    }
    await flush();
    const end = `${JSON.stringify({ records, sha256: hash.digest('hex') })}\n`;
    await handle.writeFile(end);
    bytes += Buffer.byteLength(end);
    await handle.sync();
    await handle.close();
    await rename(temp, file);
    await syncDirectory(dirname(file));
    return { records, bytes };
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some platforms and file systems cannot fsync a directory; the rename is as durable as they allow.
    if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    await handle.close();
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Revisions, and times in epoch milliseconds. */
const isWhole = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** The checks of one record line; returns the record or what is wrong with it. */
function parseRecord(row: unknown, storeRevision: number, previousKey: string | null): KvRecord | string {
  if (!Array.isArray(row) || row.length !== 6) return 'a record must be an array of 6 fields';
  const [key, value, revision, createdAt, updatedAt, expiresAt] = row as [unknown, JsonValue, unknown, unknown, unknown, unknown];
  if (typeof key !== 'string' || key === '') return 'the key must be a non-empty string';
  if (previousKey !== null && compareCodePoints(previousKey, key) >= 0) return `key ${JSON.stringify(key)} is out of order or repeated`;
  if (!isWhole(revision) || revision === 0 || revision > storeRevision) return `key ${JSON.stringify(key)}: revision must be from 1 to the store revision ${storeRevision}`;
  if (!isWhole(createdAt) || !isWhole(updatedAt) || updatedAt < createdAt) return `key ${JSON.stringify(key)}: createdAt and updatedAt must be times, createdAt first`;
  if (expiresAt !== null && !isWhole(expiresAt)) return `key ${JSON.stringify(key)}: expiresAt must be a time or null`;
  return { key, value, revision, createdAt, updatedAt, expiresAt, size: Buffer.byteLength(JSON.stringify(value)) };
}

/**
 * Reads and verifies a snapshot file; null when there is none (a first start). Anything else that stops it from
 * being used whole (unreadable, cut short, checksum mismatch, unknown version, a field that fails its check)
 * throws a SnapshotError whose one-line message names the file and what is wrong. Nothing is returned unless
 * every byte verified, so a caller never applies part of a damaged file.
 */
export async function readSnapshotFile(file: string): Promise<LoadedSnapshot | null> {
  const fail = (what: string): SnapshotError => new SnapshotError(`Snapshot ${file} ${what}`);
  const hash = createHash('sha256');
  const records: KvRecord[] = [];
  let header: Header | string | null = null;
  let lineProblem: string | null = null;
  let lineNumber = 0;
  let sectionStarted = false;
  /** The latest complete line: content once another line follows it, the end marker if none does. */
  let last: Buffer | null = null;

  const content = (line: Buffer): void => {
    hash.update(line).update('\n');
    lineNumber++;
    // Past a problem only the hash goes on: a damaged byte, if that is what it is, explains it better.
    if (lineNumber === 1 || typeof header === 'string' || lineProblem !== null) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line.toString('utf8'));
    } catch {
      lineProblem = `line ${lineNumber} is not valid JSON`;
      return;
    }
    const { sections, revision } = header as Header;
    if (Array.isArray(parsed)) {
      if (sectionStarted) {
        lineProblem = `line ${lineNumber}: a record after the sections`;
        return;
      }
      const record = parseRecord(parsed, revision, records.length > 0 ? records[records.length - 1].key : null);
      if (typeof record === 'string') lineProblem = `line ${lineNumber}: ${record}`;
      else records.push(record);
      return;
    }
    const items = isObject(parsed) && typeof parsed.section === 'string' && 'item' in parsed ? sections.get(parsed.section) : undefined;
    if (items === undefined) {
      lineProblem = `line ${lineNumber} is neither a record nor an item of a section the header names`;
      return;
    }
    sectionStarted = true;
    items.push((parsed as { item: unknown }).item);
  };

  let tail: Buffer[] = [];
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      let start = 0;
      for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
        const piece = chunk.subarray(start, newline);
        const line = tail.length > 0 ? Buffer.concat([...tail, piece]) : piece;
        tail = [];
        // The header is read at once, not when the next line arrives: a one-line file must still be judged by it.
        if (header === null) header = parseHeader(line);
        if (last !== null) content(last);
        last = line;
        start = newline + 1;
      }
      if (start < chunk.length) tail.push(chunk.subarray(start));
    }
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'ENOENT') return null;
    throw fail(`cannot be read: ${message}`);
  }

  if (last === null && tail.length === 0) throw fail('is empty');
  if (header === null) {
    // Not even the header is complete: what there is shows whether it was a snapshot, cut short.
    const start = Buffer.concat(tail).toString('utf8');
    header = SNAPSHOT_START.startsWith(start.slice(0, SNAPSHOT_START.length)) ? 'is truncated: its header is incomplete' : parseHeader(Buffer.from(start));
  }
  // Another version may end differently, so its own message comes before any check of the end.
  if (typeof header === 'string' && header.startsWith('has format version')) throw fail(header);
  const end = tail.length > 0 ? null : parseEnd(last!);
  // A damaged byte is the root cause of whatever else looks wrong, so it is reported first.
  if (end !== null && end.sha256 !== hash.digest('hex')) throw fail('is corrupt: checksum mismatch (its content was damaged or altered)');
  if (typeof header === 'string') throw fail(header);
  if (end === null) {
    const lines = lineNumber + (last === null ? 0 : 1);
    throw fail(`is truncated or damaged: the end marker is missing after ${lines} complete line(s)${tail.length > 0 ? ' and a partial one' : ''}`);
  }
  if (lineProblem !== null) throw fail(`is corrupt: ${lineProblem}`);
  if (end.records !== records.length) throw fail(`is corrupt: it holds ${records.length} records, its end marker says ${end.records}`);
  const { keyspace, revision, takenAt, sections } = header;
  return { keyspace, revision, takenAt, records, sections };
}

interface Header {
  readonly keyspace: Keyspace | null;
  readonly revision: number;
  readonly takenAt: number;
  /** Items of each section the header names, filled in as they are read. */
  readonly sections: Map<string, unknown[]>;
}

/** The header, or what is wrong with it. */
function parseHeader(line: Buffer): Header | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch {
    return 'is not a kv-store snapshot (its first line is not JSON)';
  }
  if (!isObject(parsed) || parsed.format !== SNAPSHOT_FORMAT) return 'is not a kv-store snapshot (no snapshot header)';
  if (Number.isSafeInteger(parsed.version) && (parsed.version as number) > SNAPSHOT_VERSION) {
    return `has format version ${parsed.version as number}, which this version of kv-store cannot read (it reads version ${SNAPSHOT_VERSION})`;
  }
  const { version, keyspace, base, revision, takenAt, sections } = parsed;
  const names = Array.isArray(sections) && sections.every((name) => typeof name === 'string' && name !== '') ? (sections as string[]) : null;
  const versionOk = Number.isSafeInteger(version) && (version as number) >= OLDEST_READABLE_VERSION;
  // Version 2 records its keyspace; version 1 could not.
  const keyspaceOk = version === 1 || (typeof keyspace === 'string' && isKeyspaceId(keyspace) && isWhole(base) && isWhole(revision) && base <= revision);
  if (!versionOk || !keyspaceOk || !isWhole(revision) || typeof takenAt !== 'string' || Number.isNaN(Date.parse(takenAt)) || names === null || new Set(names).size !== names.length) {
    return 'is corrupt: its header is malformed';
  }
  return {
    keyspace: version === 1 ? null : { id: keyspace as string, base: base as number },
    revision,
    takenAt: Date.parse(takenAt),
    sections: new Map(names.map((name) => [name, []])),
  };
}

interface EndMarker {
  readonly records: number;
  readonly sha256: string;
}

function parseEnd(line: Buffer): EndMarker | null {
  try {
    const end: unknown = JSON.parse(line.toString('utf8'));
    if (isObject(end) && typeof end.sha256 === 'string' && /^[0-9a-f]{64}$/.test(end.sha256) && Number.isSafeInteger(end.records)) {
      return end as unknown as EndMarker;
    }
  } catch {
    // not an end marker: the file was cut short
  }
  return null;
}
