import { Logger } from '@nestjs/common';
import { constants } from 'node:fs';
import { access, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SnapshotOnCorrupt } from '../../config/env.validation';
import { type Keyspace, type KeyspaceChangeReason, newKeyspaceId } from '../keyspace';
import type { KeyspaceChange } from '../keyspace-changes';
import type { MemoryStore } from './memory.store';
import { type LoadedSnapshot, readSnapshotFile, SnapshotError, syncDirectory, writeSnapshotFile } from './memory-snapshot';
import type { SnapshotSections } from './snapshot-sections';

export interface MemorySnapshotOptions {
  /** SNAPSHOT_FILE */
  readonly file: string;
  /** SNAPSHOT_INTERVAL_MS */
  readonly intervalMs: number;
  /** SNAPSHOT_ON_CORRUPT */
  readonly onCorrupt: SnapshotOnCorrupt;
  /** Told which keyspace the store is in after the restore, and when it had to begin a new one. */
  readonly keyspace?: {
    use(keyspace: Keyspace, how: string): void;
    changed(change: KeyspaceChange): void;
  };
}

/** What the run marker holds: the keyspace a running process hands out revisions in. */
interface RunMarker {
  readonly keyspace?: string;
  readonly pid?: number;
  readonly startedAt?: string;
}

const elapsed = (since: number): string => `${Math.round(performance.now() - since)} ms`;
const message = (error: unknown): string => (typeof error === 'object' && error !== null && 'message' in error ? String(error.message) : String(error));

/**
 * Keeps the memory driver's data across restarts: restores the snapshot file before the application serves,
 * rewrites it every SNAPSHOT_INTERVAL_MS while something changed, and once more at graceful shutdown (after
 * HTTP has drained, so it holds every acknowledged write). A crash loses at most the writes after the last
 * periodic snapshot; the file itself is replaced atomically, so it is never left half-written.
 *
 * Only one snapshot is written at a time: the next periodic one is scheduled when the previous one has
 * finished, and shutdown waits for one in progress before writing the last.
 *
 * Keyspace: while the process runs, a run marker (`SNAPSHOT_FILE.running`) says so; it is removed only once the
 * final snapshot is on disk. A start that finds it knows the previous run ended without that snapshot (a crash, a
 * kill, a failed last write): revisions after its last snapshot may have been handed out, so the restored data
 * begins a new keyspace (based at the snapshot's revision) rather than hand out those revisions again. A start
 * that finds no marker continues the snapshot's own keyspace, exactly where the clean stop left it.
 */
export class MemorySnapshotService {
  private readonly logger = new Logger('Snapshot');
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** What the file holds now, to skip rewriting an unchanged store. */
  private saved: { keyspace: string; revision: number; sections: string } | null = null;

  constructor(
    private readonly store: MemoryStore,
    private readonly sections: SnapshotSections,
    private readonly options: MemorySnapshotOptions,
  ) {}

  private get markerFile(): string {
    return `${this.options.file}.running`;
  }

  /**
   * Restores the snapshot (see SNAPSHOT_ON_CORRUPT for one that cannot be used) in the keyspace it allows, marks
   * the run, then starts the periodic writes.
   */
  async start(): Promise<void> {
    await this.assertWritableDirectory();
    const previousRun = await this.readMarker();
    const change = await this.restore(previousRun);
    const keyspace = this.store.keyspace;
    if (change) this.options.keyspace?.changed({ from: change.from, to: keyspace, reason: change.reason });
    else this.options.keyspace?.use(keyspace, this.saved ? `continued from ${this.options.file}` : 'new');
    await this.writeMarker({ keyspace: keyspace.id, pid: process.pid, startedAt: new Date().toISOString() });
    this.schedule();
  }

  /**
   * Stops the periodic writes, writes the final snapshot and, once it is on disk, removes the run marker. Call
   * after HTTP has drained, before the store closes.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.writing.catch(() => undefined);
    // Keys expired but not swept yet would be left out of the file without their expire events, in a keyspace the
    // next start continues: a client resuming at the saved revision would never hear of them. Swept now, they are
    // announced and take revisions, as any sweep does. Whatever happens there, the snapshot is still written.
    try {
      this.store.sweep();
    } catch (error) {
      this.logger.error(`Sweeping expired keys before the final snapshot failed: ${message(error)}`);
    }
    await this.write('log');
    await unlink(this.markerFile).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await syncDirectory(dirname(this.options.file));
  }

  /** The previous run's marker, or null when it stopped cleanly (or there was none). */
  private async readMarker(): Promise<RunMarker | null> {
    let text: string;
    try {
      text = await readFile(this.markerFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new SnapshotError(`Run marker ${this.markerFile} cannot be read: ${message(error)}`);
    }
    try {
      return JSON.parse(text) as RunMarker;
    } catch {
      // A marker cut short by the crash it reports: it still says the run did not end cleanly.
      return {};
    }
  }

  /** Written and synced before anything is served, so a crash from here on is always noticed at the next start. */
  private async writeMarker(marker: RunMarker): Promise<void> {
    const handle = await open(this.markerFile, 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(marker)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await syncDirectory(dirname(this.options.file));
  }

  /** Found now rather than at the first write, which may be the one at shutdown. */
  private async assertWritableDirectory(): Promise<void> {
    const directory = dirname(this.options.file);
    try {
      await access(directory, constants.W_OK | constants.X_OK);
    } catch (error) {
      throw new SnapshotError(`Snapshot directory ${directory} (of SNAPSHOT_FILE=${this.options.file}) is not writable: ${message(error)}`);
    }
  }

  /** Restores the snapshot; returns the keyspace change it had to make, if any. */
  private async restore(previousRun: RunMarker | null): Promise<{ from: string | null; reason: KeyspaceChangeReason } | null> {
    const { file } = this.options;
    const started = performance.now();
    // The previous run's keyspace is gone with whatever it handed out after its last snapshot.
    const unclean = previousRun === null ? null : { from: previousRun.keyspace ?? null, reason: 'unclean_restart' as const };
    if (unclean) this.logger.warn(`${this.markerFile} is there: the previous run did not stop cleanly (no final snapshot)`);
    let snapshot: LoadedSnapshot | null;
    let install: () => void;
    try {
      snapshot = await readSnapshotFile(file);
      if (snapshot === null) {
        this.logger.log(`No snapshot at ${file} yet: starting empty`);
        return unclean;
      }
      try {
        install = this.sections.prepareRestore(snapshot.sections);
      } catch (error) {
        throw new SnapshotError(`Snapshot ${file} is corrupt: ${message(error)}`);
      }
    } catch (error) {
      if (!(error instanceof SnapshotError)) throw error;
      if (this.options.onCorrupt === 'fail') {
        throw new SnapshotError(`${error.message}; to start empty instead, set SNAPSHOT_ON_CORRUPT=ignore (the file is then moved aside)`);
      }
      await this.moveAside(error);
      return { from: previousRun?.keyspace ?? null, reason: 'snapshot_discarded' };
    }
    // A snapshot from a clean stop continues its keyspace; anything else begins a new one at its revision.
    const continued = unclean === null && snapshot.keyspace !== null;
    const keyspace: Keyspace = continued ? (snapshot.keyspace as Keyspace) : { id: newKeyspaceId(), base: snapshot.revision };
    const restored = this.store.restore(snapshot, keyspace);
    install();
    const sections = [...snapshot.sections].map(([name, items]) => `, ${items.length} ${name}`).join('');
    const skipped = snapshot.records.length - restored;
    this.logger.log(
      `Restored ${file} (taken ${new Date(snapshot.takenAt).toISOString()}): ${restored} keys${skipped > 0 ? ` (${skipped} expired while down, dropped)` : ''}${sections}, revision ${snapshot.revision}, in ${elapsed(started)}`,
    );
    this.saved = { keyspace: snapshot.keyspace?.id ?? '', revision: snapshot.revision, sections: JSON.stringify([...snapshot.sections]) };
    if (continued) return null;
    // A version 1 snapshot (kv-store 0.1) names no keyspace: its data simply starts one.
    return unclean;
  }

  /** SNAPSHOT_ON_CORRUPT=ignore: keeps the bad file for inspection and starts empty, loudly. */
  private async moveAside(problem: SnapshotError): Promise<void> {
    const aside = `${this.options.file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(this.options.file, aside);
    } catch (error) {
      throw new SnapshotError(`${problem.message}; moving it aside (SNAPSHOT_ON_CORRUPT=ignore) failed: ${message(error)}`);
    }
    this.logger.warn(`${problem.message}. SNAPSHOT_ON_CORRUPT=ignore: moved it to ${aside}; starting EMPTY`);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.writing = this.write('debug')
        .catch((error: unknown) => this.logger.error(`Snapshot to ${this.options.file} failed: ${message(error)}; the previous one is kept, retrying in ${this.options.intervalMs} ms`))
        .finally(() => this.schedule());
    }, this.options.intervalMs);
    // Snapshots must never be what keeps the process alive.
    this.timer.unref();
  }

  /** Writes a snapshot unless nothing changed since the last one; `level` is where its log line goes. */
  private async write(level: 'debug' | 'log'): Promise<void> {
    // Both captured in one synchronous step: one point in time.
    const image = this.store.snapshot();
    const sections = this.sections.dump();
    const state = { keyspace: image.keyspace?.id ?? '', revision: image.revision, sections: JSON.stringify([...sections]) };
    if (this.saved !== null && this.saved.keyspace === state.keyspace && this.saved.revision === state.revision && this.saved.sections === state.sections) {
      this.logger[level](`Snapshot ${this.options.file} is current (revision ${state.revision}): not rewritten`);
      return;
    }
    const started = performance.now();
    const { records, bytes } = await writeSnapshotFile(this.options.file, { ...image, sections });
    this.saved = state;
    this.logger[level](`Snapshot written to ${this.options.file}: ${records} keys, ${bytes} bytes, revision ${image.revision}, in ${elapsed(started)}`);
  }
}
