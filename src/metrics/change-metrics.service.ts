import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { ChangeFeed, type Watch } from '../store/change-feed';

/**
 * Counts change events by type, from the feed itself (so every driver is counted the same way), for
 * kv_events_total. The counts are plain numbers, handed to the counter when it is scraped (`collectInto`): a
 * labelled `inc` per event made prom-client build and look up the label set's key on every write.
 */
@Injectable()
export class ChangeMetricsService implements OnModuleInit, OnApplicationShutdown {
  private watch: Watch | null = null;
  /** Events seen since start, by type (a Map, so a type the feed carries that this code does not know still counts). */
  private readonly counts = new Map<string, number>();

  constructor(private readonly feed: ChangeFeed) {}

  onModuleInit(): void {
    this.watch = this.feed.watch(null, {
      events: (batch) => {
        for (const event of batch) this.counts.set(event.type, (this.counts.get(event.type) ?? 0) + 1);
      },
      reset: () => undefined,
      readsValues: false,
    });
  }

  /** Sets `counter` (kv_events_total, at scrape time) to the counts: one series per type seen. */
  collectInto(counter: Counter<string>): void {
    counter.reset();
    for (const [type, count] of this.counts) counter.inc({ type }, count);
  }

  onApplicationShutdown(): void {
    this.watch?.stop();
  }
}
