import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ChangeFeed, type Watch } from '../store/change-feed';
import { KV_EVENTS_TOTAL } from './metric-names';

/** Counts change events by type, from the feed itself (so every driver is counted the same way). */
@Injectable()
export class ChangeMetricsService implements OnModuleInit, OnApplicationShutdown {
  private watch: Watch | null = null;

  constructor(
    private readonly feed: ChangeFeed,
    @InjectMetric(KV_EVENTS_TOTAL) private readonly events: Counter<string>,
  ) {}

  onModuleInit(): void {
    this.watch = this.feed.watch(null, {
      events: (batch) => {
        for (const event of batch) this.events.inc({ type: event.type });
      },
      reset: () => undefined,
      readsValues: false,
    });
  }

  onApplicationShutdown(): void {
    this.watch?.stop();
  }
}
