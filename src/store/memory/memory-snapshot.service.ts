import { Logger } from '@nestjs/common';
import { constants } from 'node:fs';
import { access, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SnapshotOnCorrupt } from '../../config/env.validation';
import type { MemoryStore } from './memory.store';
import { type LoadedSnapshot, readSnapshotFile, SnapshotError, writeSnapshotFile } from './memory-snapshot';
import type { SnapshotSections } from './snapshot-sections';

export interface MemorySnapshotOptions {
  /** SNAPSHOT_FILE */
  readonly file: string;
  /** SNAPSHOT_INTERVAL_MS */
  readonly intervalMs: number;
  /** SNAPSHOT_ON_CORRUPT */
  readonly onCorrupt: SnapshotOnCorrupt;
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
 */
export class MemorySnapshotService {
  private readonly logger = new Logger('Snapshot');
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** What the file holds now, to skip rewriting an unchanged store. */
  private saved: { revision: number; sections: string } | null = null;

  constructor(
    private readonly store: MemoryStore,
    private readonly sections: SnapshotSections,
    private readonly options: MemorySnapshotOptions,
  ) {}

  /** Restores the snapshot (see SNAPSHOT_ON_CORRUPT for one that cannot be used), then starts the periodic writes. */
  async start(): Promise<void> {
    await this.assertWritableDirectory();
    await this.restore();
    this.schedule();
  }

  /** Stops the periodic writes and writes the final snapshot. Call after HTTP has drained, before the store closes. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.writing.catch(() => undefined);
    await this.write('log');
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

  private async restore(): Promise<void> {
    const { file } = this.options;
    const started = performance.now();
    let snapshot: LoadedSnapshot | null;
    let install: () => void;
    try {
      snapshot = await readSnapshotFile(file);
      if (snapshot === null) {
        this.logger.log(`No snapshot at ${file} yet: starting empty`);
        return;
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
      return;
    }
    const restored = this.store.restore(snapshot);
    install();
    const sections = [...snapshot.sections].map(([name, items]) => `, ${items.length} ${name}`).join('');
    const skipped = snapshot.records.length - restored;
    this.logger.log(
      `Restored ${file} (taken ${new Date(snapshot.takenAt).toISOString()}): ${restored} keys${skipped > 0 ? ` (${skipped} expired while down, dropped)` : ''}${sections}, revision ${snapshot.revision}, in ${elapsed(started)}`,
    );
    this.saved = { revision: snapshot.revision, sections: JSON.stringify([...snapshot.sections]) };
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
    const state = { revision: image.revision, sections: JSON.stringify([...sections]) };
    if (this.saved !== null && this.saved.revision === state.revision && this.saved.sections === state.sections) {
      this.logger[level](`Snapshot ${this.options.file} is current (revision ${state.revision}): not rewritten`);
      return;
    }
    const started = performance.now();
    const { records, bytes } = await writeSnapshotFile(this.options.file, { ...image, sections });
    this.saved = state;
    this.logger[level](`Snapshot written to ${this.options.file}: ${records} keys, ${bytes} bytes, revision ${image.revision}, in ${elapsed(started)}`);
  }
}
