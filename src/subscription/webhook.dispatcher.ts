import { type BeforeApplicationShutdown, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { EnvironmentVariables } from '../config/env.validation';
import { KV_WEBHOOK_DELIVERIES_TOTAL } from '../metrics/metric-names';
import { ChangeFeed, type ChangeEvent } from '../store/change-feed';
import { matches } from './event-filter';
import { type Subscription, SubscriptionRepository } from './subscription.repository';
import { forbiddenReason, WebhookTargetPolicy } from './webhook-target.policy';

/** An event that exhausted its attempts (or overflowed the queue) and was skipped. */
export interface DeadLetter {
  readonly revision: number;
  readonly key: string;
  readonly attempts: number;
  readonly error: string;
  readonly at: string;
}

/** Delivery state of one subscription, as GET /subscriptions/:id shows it. */
export interface DeliveryState {
  readonly lastDeliveredRevision: number | null;
  readonly pending: number;
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
  readonly deadLettered: number;
  /** The most recent dead letters, newest last (at most DEAD_LETTERS_KEPT). */
  readonly deadLetters: readonly DeadLetter[];
}

export type DeliveryResult = 'delivered' | 'failed' | 'dead_lettered';

const DEAD_LETTERS_KEPT = 100;

interface Queued {
  readonly event: ChangeEvent;
  readonly body: string;
  /** Stable across retries, so a receiver can drop duplicates. */
  readonly deliveryId: string;
  attempts: number;
}

/** One subscription's queue, delivered strictly in revision order, one request at a time. */
class Worker {
  readonly queue: Queued[] = [];
  head = 0;
  inFlight: AbortController | null = null;
  timer: NodeJS.Timeout | null = null;
  lastDeliveredRevision: number | null = null;
  consecutiveFailures = 0;
  lastError: string | null = null;
  deadLettered = 0;
  readonly deadLetters: DeadLetter[] = [];

  constructor(readonly subscription: Subscription) {}

  get pending(): number {
    return this.queue.length - this.head;
  }

  peek(): Queued | undefined {
    return this.queue[this.head];
  }

  shift(): void {
    this.head++;
    // Compact now and then instead of shifting the array on every delivery.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}

/**
 * Delivers change events to webhook subscriptions: POST of the event JSON, signed with HMAC-SHA256 of
 * the raw body (X-KV-Signature), in revision order per subscription. A 2xx within WEBHOOK_TIMEOUT_MS is a
 * delivery; anything else is retried with exponential backoff and jitter, WEBHOOK_MAX_ATTEMPTS times in
 * all, then dead-lettered, and the next events continue. At-least-once: a receiver may see an event twice
 * (X-KV-Delivery is the same on every attempt), and misses none that was not dead-lettered.
 */
@Injectable()
export class WebhookDispatcher implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(WebhookDispatcher.name);
  private readonly workers = new Map<string, Worker>();
  private readonly policy: WebhookTargetPolicy;
  private readonly timeoutMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly maxAttempts: number;
  private readonly maxPending: number;
  private readonly agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  private stopWatching: () => void = () => undefined;
  private stopped = false;

  constructor(
    private readonly feed: ChangeFeed,
    private readonly repository: SubscriptionRepository,
    config: ConfigService<EnvironmentVariables, true>,
    @InjectMetric(KV_WEBHOOK_DELIVERIES_TOTAL) private readonly deliveries: Counter<string>,
  ) {
    this.policy = new WebhookTargetPolicy(config.getOrThrow('WEBHOOK_ALLOWED_HOSTS', { infer: true }));
    this.timeoutMs = config.getOrThrow('WEBHOOK_TIMEOUT_MS', { infer: true });
    this.retryBaseMs = config.getOrThrow('WEBHOOK_RETRY_BASE_MS', { infer: true });
    this.retryMaxMs = config.getOrThrow('WEBHOOK_RETRY_MAX_MS', { infer: true });
    this.maxAttempts = config.getOrThrow('WEBHOOK_MAX_ATTEMPTS', { infer: true });
    this.maxPending = config.getOrThrow('WEBHOOK_MAX_PENDING', { infer: true });
  }

  get targetPolicy(): WebhookTargetPolicy {
    return this.policy;
  }

  async onModuleInit(): Promise<void> {
    for (const subscription of await this.repository.list()) this.track(subscription);
    this.stopWatching = this.feed.watch(null, {
      events: (batch) => this.enqueue(batch),
      // A live-only watch is never reset; nothing to do if one ever were.
      reset: () => undefined,
    });
  }

  /** Starts delivering to a (new or loaded) subscription. */
  track(subscription: Subscription): void {
    this.workers.set(subscription.id, new Worker(subscription));
  }

  /** Stops delivering to a subscription, abandoning its queue and any request in flight. */
  untrack(id: string): void {
    const worker = this.workers.get(id);
    if (!worker) return;
    this.workers.delete(id);
    clearTimeout(worker.timer ?? undefined);
    worker.inFlight?.abort();
  }

  state(id: string): DeliveryState | null {
    const w = this.workers.get(id);
    if (!w) return null;
    return {
      lastDeliveredRevision: w.lastDeliveredRevision,
      pending: w.pending,
      consecutiveFailures: w.consecutiveFailures,
      lastError: w.lastError,
      deadLettered: w.deadLettered,
      deadLetters: [...w.deadLetters],
    };
  }

  beforeApplicationShutdown(): void {
    this.stopped = true;
    this.stopWatching();
    for (const id of [...this.workers.keys()]) this.untrack(id);
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private enqueue(batch: readonly ChangeEvent[]): void {
    for (const worker of this.workers.values()) {
      for (const event of batch) {
        if (event.revision <= worker.subscription.startRevision || !matches(worker.subscription.filter, event)) continue;
        worker.queue.push({ event, body: JSON.stringify(event), deliveryId: randomUUID(), attempts: 0 });
        if (worker.pending > this.maxPending) {
          const oldest = worker.peek() as Queued;
          // The one in flight stays; it is the next oldest that gives way.
          if (worker.inFlight === null) {
            this.deadLetter(worker, oldest, `queue full (WEBHOOK_MAX_PENDING=${this.maxPending})`);
          } else {
            const [dropped] = worker.queue.splice(worker.head + 1, 1);
            this.deadLetter(worker, dropped, `queue full (WEBHOOK_MAX_PENDING=${this.maxPending})`, false);
          }
        }
      }
      this.kick(worker);
    }
  }

  /** Delivers the head of the queue unless a delivery or a retry is already under way. */
  private kick(worker: Worker): void {
    if (this.stopped || worker.inFlight || worker.timer || worker.pending === 0) return;
    void this.attempt(worker, worker.peek() as Queued);
  }

  private async attempt(worker: Worker, item: Queued): Promise<void> {
    const controller = new AbortController();
    worker.inFlight = controller;
    item.attempts++;
    let error: string | null;
    try {
      error = await this.post(worker.subscription, item, controller.signal);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    if (worker.inFlight !== controller || this.workers.get(worker.subscription.id) !== worker) return; // untracked meanwhile
    worker.inFlight = null;
    if (error === null) {
      this.count('delivered');
      worker.lastDeliveredRevision = item.event.revision;
      worker.consecutiveFailures = 0;
      worker.shift();
      this.kick(worker);
      return;
    }
    this.count('failed');
    worker.consecutiveFailures++;
    worker.lastError = error;
    if (item.attempts >= this.maxAttempts) {
      this.deadLetter(worker, item, error);
      this.kick(worker);
      return;
    }
    worker.timer = setTimeout(() => {
      worker.timer = null;
      this.kick(worker);
    }, this.backoff(item.attempts));
  }

  private count(result: DeliveryResult): void {
    this.deliveries.inc({ result });
  }

  /** Exponential backoff with equal jitter: half the delay fixed, half random, so retries spread out. */
  private backoff(attempts: number): number {
    const delay = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (attempts - 1));
    return delay / 2 + Math.random() * (delay / 2);
  }

  private deadLetter(worker: Worker, item: Queued, error: string, isHead = true): void {
    this.count('dead_lettered');
    worker.deadLettered++;
    worker.deadLetters.push({ revision: item.event.revision, key: item.event.key, attempts: item.attempts, error, at: new Date().toISOString() });
    if (worker.deadLetters.length > DEAD_LETTERS_KEPT) worker.deadLetters.shift();
    if (isHead) worker.shift();
    this.logger.warn(`webhook ${worker.subscription.id}: dead-lettered revision ${item.event.revision} after ${item.attempts} attempt(s): ${error}`);
  }

  /** One POST. Resolves null on a 2xx, else with what went wrong. */
  private post(subscription: Subscription, item: Queued, signal: AbortSignal): Promise<string | null> {
    const url = this.policy.parse(subscription.url);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) && !this.policy.isAllowedHost(host)) {
      const reason = forbiddenReason(host);
      if (reason) return Promise.resolve(`refused: ${reason}`);
    }
    const signature = createHmac('sha256', subscription.secret).update(item.body).digest('hex');
    const https_ = url.protocol === 'https:';
    return new Promise((resolve) => {
      const req = (https_ ? https : http).request(url, {
        method: 'POST',
        agent: https_ ? this.agents.https : this.agents.http,
        lookup: this.policy.lookup as never,
        signal,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(item.body),
          'User-Agent': 'kv-store-webhook/1',
          'X-KV-Signature': `sha256=${signature}`,
          'X-KV-Revision': String(item.event.revision),
          'X-KV-Delivery': item.deliveryId,
          'X-KV-Subscription': subscription.id,
        },
      });
      const timer = setTimeout(() => req.destroy(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      req.on('response', (res) => {
        res.resume(); // the body is not ours to read; drain it so the socket can be reused
        res.on('end', () => {
          clearTimeout(timer);
          const status = res.statusCode ?? 0;
          resolve(status >= 200 && status < 300 ? null : `HTTP ${status}`);
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          resolve(e.message);
        });
      });
      req.on('error', (e) => {
        clearTimeout(timer);
        resolve(e.message);
      });
      req.end(item.body);
    });
  }
}
