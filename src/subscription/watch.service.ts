import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge } from 'prom-client';
import type { Response } from 'express';
import { CapacityExceededError, ClientLimitError } from '../common/errors/domain.errors';
import { AppConfig } from '../config/app-config';
import { KV_WATCH_OVERFLOWS_TOTAL, KV_WATCH_STREAMS } from '../metrics/metric-names';
import { ChangeFeed, type Watch } from '../store/change-feed';
import type { Position } from '../store/keyspace';
import { type EventFilter, followsEveryKey, matches } from './event-filter';
import { SseStream } from './sse.stream';

/** Live watch streams: opens them on the change feed, caps how many exist, ends them all at shutdown. */
@Injectable()
export class WatchService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(WatchService.name);
  private readonly streams = new Set<SseStream>();
  /** Open streams per client (API key, or address when open), so one client cannot take every slot. */
  private readonly perClient = new Map<string, number>();
  private readonly maxStreams: number;
  private readonly maxPerClient: number;
  private readonly heartbeatMs: number;
  private readonly maxBufferBytes: number;

  constructor(
    private readonly feed: ChangeFeed,
    config: AppConfig,
    @InjectMetric(KV_WATCH_STREAMS) private readonly gauge: Gauge<string>,
    @InjectMetric(KV_WATCH_OVERFLOWS_TOTAL) private readonly overflows: Counter<string>,
  ) {
    this.maxStreams = config.getOrThrow('WATCH_MAX_STREAMS', { infer: true });
    this.maxPerClient = config.getOrThrow('WATCH_MAX_STREAMS_PER_CLIENT', { infer: true });
    this.heartbeatMs = config.getOrThrow('WATCH_HEARTBEAT_MS', { infer: true });
    this.maxBufferBytes = config.getOrThrow('WATCH_MAX_BUFFER_BYTES', { infer: true });
  }

  /** Open streams (for metrics, and for tests proving that closed connections release everything). */
  get active(): number {
    return this.streams.size;
  }

  /**
   * Starts streaming `filter`'s events to `res`: the retained ones after `since` first (or a reset when they
   * are gone, or `since` is from another keyspace), then live ones. Throws before anything is written when the
   * stream cap, or `client`'s share of it, is reached.
   */
  open(res: Response, filter: EventFilter, since: Position | null, client: string): void {
    if (this.streams.size >= this.maxStreams) {
      throw new CapacityExceededError(`Too many watch streams (WATCH_MAX_STREAMS=${this.maxStreams}); retry later`, 5);
    }
    const held = this.perClient.get(client) ?? 0;
    if (held >= this.maxPerClient) {
      throw new ClientLimitError(`This client has ${held} watch streams open (WATCH_MAX_STREAMS_PER_CLIENT=${this.maxPerClient}); close one first`, 5);
    }
    this.perClient.set(client, held + 1);
    let watch: Watch | null = null;
    const stream: SseStream = new SseStream(
      res,
      { heartbeatMs: this.heartbeatMs, maxBufferBytes: this.maxBufferBytes, progress: () => (watch?.live ? this.feed.position : null) },
      (reason) => {
        watch?.stop();
        this.streams.delete(stream);
        const left = (this.perClient.get(client) ?? 1) - 1;
        if (left > 0) this.perClient.set(client, left);
        else this.perClient.delete(client);
        this.gauge.set(this.streams.size);
        if (reason === 'overflow') {
          this.overflows.inc();
          this.logger.warn(`watch stream ended: client too slow (WATCH_MAX_BUFFER_BYTES=${this.maxBufferBytes})`);
        }
      },
    );
    this.streams.add(stream);
    this.gauge.set(this.streams.size);
    const now = this.feed.position;
    // Where the client stands until the first event or reset: what it asked for (a bare revision is the current keyspace's).
    stream.open(since === null ? now : { keyspace: since.keyspace ?? now.keyspace, revision: since.revision });
    const everyKey = followsEveryKey(filter);
    watch = this.feed.watch(since, {
      events: (batch) => {
        // Unfiltered streams take the feed's batch as it is: no copy per stream per event on the fan-out.
        const matching = everyKey ? batch : batch.filter((event) => matches(filter, event));
        if (matching.length > 0) stream.send(matching);
      },
      reset: (position) => stream.reset(position),
      wantsMore: () => {
        if (stream.wantsMore()) return true;
        stream.whenRoom(() => watch?.resume());
        return false;
      },
      lagged: () => stream.overflow(),
    });
    // The replay itself may have ended the stream (overflow) before `watch` was known.
    if (stream.isEnded) watch.stop();
  }

  /** Ends every stream before the HTTP server closes, so shutdown does not wait on them. */
  beforeApplicationShutdown(): void {
    for (const stream of [...this.streams]) stream.end('shutdown');
  }
}
