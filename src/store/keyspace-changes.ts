import { Injectable, Logger } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge } from 'prom-client';
import { KV_KEYSPACE_CHANGES_TOTAL, KV_KEYSPACE_INFO } from '../metrics/metric-names';
import { KEYSPACE_CHANGE_REASONS, type Keyspace, type KeyspaceChangeReason } from './keyspace';

/** A new keyspace a store began, and why. */
export interface KeyspaceChange {
  /** The keyspace before, when this process knew one. */
  readonly from: string | null;
  readonly to: Keyspace;
  readonly reason: KeyspaceChangeReason;
}

/**
 * Makes the store's keyspace and every change of it visible: a warning in the log and a count in
 * kv_keyspace_changes_total{reason}; kv_keyspace_info{keyspace} names the current one. Both drivers report here.
 */
@Injectable()
export class KeyspaceChanges {
  private readonly logger = new Logger('Keyspace');
  private current: string | null = null;

  constructor(
    @InjectMetric(KV_KEYSPACE_CHANGES_TOTAL) private readonly changes: Counter<string>,
    @InjectMetric(KV_KEYSPACE_INFO) private readonly info: Gauge<string>,
  ) {
    // Every reason is a series from the start, so the first change is an increase Prometheus can see.
    for (const reason of KEYSPACE_CHANGE_REASONS) changes.inc({ reason }, 0);
  }

  /** The keyspace in use now (at start, or after a change). */
  use(keyspace: Keyspace, how: string): void {
    if (this.current === keyspace.id) return;
    if (this.current !== null) this.info.remove({ keyspace: this.current });
    this.current = keyspace.id;
    this.info.set({ keyspace: keyspace.id }, 1);
    this.logger.log(`keyspace ${keyspace.id} (revisions after ${keyspace.base}): ${how}`);
  }

  /** The store began a new keyspace: the revisions, ETags and watch ids of the old one no longer resume anything. */
  changed({ from, to, reason }: KeyspaceChange): void {
    this.changes.inc({ reason });
    this.logger.warn(
      `keyspace changed${from === null ? '' : ` from ${from}`} to ${to.id} (${reason}): watches resuming from before it get a reset, ETags from before it no longer match`,
    );
    this.use(to, `new, revisions continue after ${to.base}`);
  }
}
