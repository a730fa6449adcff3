/** One feature's state inside memory snapshots (webhook subscriptions, for instance), beside the store's records. */
export interface SnapshotSection {
  /**
   * The current state as JSON-serialisable items. Called synchronously right after the store's records are
   * captured, so records and sections are one point in time.
   */
  dump(): readonly unknown[];
  /**
   * Checks items read from a snapshot and returns the function that installs them. Throws, saying what is
   * wrong, before changing anything: a snapshot with a bad section is refused whole.
   */
  prepareRestore(items: readonly unknown[]): () => void;
}

/**
 * The registry through which features outside the store module put their state into memory snapshots,
 * without the store module knowing them. StoreModule exports it for every driver; unless the memory driver
 * snapshots (SNAPSHOT_FILE), nothing reads it. Register from a provider factory or constructor: sections are
 * restored when the application initialises, before it serves.
 */
export class SnapshotSections {
  private readonly sections = new Map<string, SnapshotSection>();
  /**
   * Sections of the restored snapshot that nobody registered: written back unchanged, so an application
   * assembled without the feature that owns them does not destroy its state.
   */
  private carried = new Map<string, readonly unknown[]>();
  private restoring = false;

  register(name: string, section: SnapshotSection): void {
    if (this.restoring) throw new Error(`snapshot section "${name}" registered after the snapshot was restored: its state would be lost`);
    if (this.sections.has(name)) throw new Error(`snapshot section "${name}" is registered twice`);
    this.sections.set(name, section);
  }

  /** Every section's items, by name. */
  dump(): Map<string, readonly unknown[]> {
    const dumped = new Map(this.carried);
    for (const [name, section] of this.sections) dumped.set(name, section.dump());
    return dumped;
  }

  /**
   * Checks the sections of a snapshot (a section it lacks restores empty) and returns the function that
   * installs them all. Throws, naming the section, before anything changed.
   */
  prepareRestore(items: ReadonlyMap<string, readonly unknown[]>): () => void {
    this.restoring = true;
    const commits = [...this.sections].map(([name, section]) => {
      try {
        return section.prepareRestore(items.get(name) ?? []);
      } catch (error) {
        throw new Error(`section "${name}": ${error instanceof Error ? error.message : String(error)}`);
      }
    });
    const carried = new Map([...items].filter(([name]) => !this.sections.has(name)));
    return () => {
      for (const commit of commits) commit();
      this.carried = carried;
    };
  }
}
