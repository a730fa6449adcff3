import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { AppConfig } from '../config/app-config';
import type { ChangeEvent } from '../store/change-feed';
import type { Subscription } from './subscription.repository';
import { forbiddenReason, WebhookTargetPolicy } from './webhook-target.policy';

/** One event on its way to one subscription. */
export interface Delivery {
  readonly event: ChangeEvent;
  readonly body: string;
  /** The same on every attempt and on every replica, so a receiver can drop duplicates. */
  readonly deliveryId: string;
  /** Attempts made so far. */
  attempts: number;
  /**
   * Why the event cannot be sent as it was written, when its queue could not read all of it (only damage to the
   * Redis stream does that): the lane dead-letters it without an attempt, so the events behind it go on.
   */
  readonly undeliverable?: string;
}

/** Each event's JSON, made once however many subscriptions it goes to. */
const bodies = new WeakMap<ChangeEvent, string>();

/** A delivery of `event` to `subscription`, not yet attempted. */
export function toDelivery(subscription: Subscription, event: ChangeEvent, attempts = 0): Delivery {
  let body = bodies.get(event);
  if (body === undefined) {
    body = JSON.stringify(event);
    bodies.set(event, body);
  }
  return { event, body, deliveryId: deliveryIdOf(subscription.id, event.keyspace, event.revision), attempts };
}

/**
 * A UUID-shaped id derived from the subscription and the event's position (keyspace and revision): a replica that
 * takes over a dead one's deliveries sends the same id the first one did, without having to share it, and a
 * revision number handed out again in a new keyspace never repeats an id.
 */
export function deliveryIdOf(subscriptionId: string, keyspace: string, revision: number): string {
  const h = createHash('sha256').update(`${subscriptionId}\n${keyspace}\n${revision}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Sends webhook requests: one signed POST per attempt, through the SSRF policy, with the retry schedule both
 * drivers' dispatchers share.
 */
@Injectable()
export class WebhookSender implements OnApplicationShutdown {
  readonly policy: WebhookTargetPolicy;
  readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

  constructor(config: AppConfig) {
    this.policy = new WebhookTargetPolicy(config.getOrThrow('WEBHOOK_ALLOWED_HOSTS', { infer: true }));
    this.timeoutMs = config.getOrThrow('WEBHOOK_TIMEOUT_MS', { infer: true });
    this.retryBaseMs = config.getOrThrow('WEBHOOK_RETRY_BASE_MS', { infer: true });
    this.retryMaxMs = config.getOrThrow('WEBHOOK_RETRY_MAX_MS', { infer: true });
    this.maxAttempts = config.getOrThrow('WEBHOOK_MAX_ATTEMPTS', { infer: true });
  }

  /** Runs after the dispatchers stopped (beforeApplicationShutdown), so no request still needs a socket. */
  onApplicationShutdown(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** Exponential backoff with equal jitter: half the delay fixed, half random, so retries spread out. */
  backoff(attempts: number): number {
    const delay = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (attempts - 1));
    return delay / 2 + Math.random() * (delay / 2);
  }

  /** One POST. Resolves null on a 2xx, else with what went wrong; never rejects. */
  post(subscription: Subscription, delivery: Delivery, signal: AbortSignal): Promise<string | null> {
    let url: URL;
    try {
      url = this.policy.parse(subscription.url);
    } catch (e) {
      return Promise.resolve(e instanceof Error ? e.message : String(e));
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) && !this.policy.isAllowedHost(host)) {
      const reason = forbiddenReason(host);
      if (reason) return Promise.resolve(`refused: ${reason}`);
    }
    const signature = createHmac('sha256', subscription.secret).update(delivery.body).digest('hex');
    const secure = url.protocol === 'https:';
    return new Promise((resolve) => {
      const req = (secure ? https : http).request(url, {
        method: 'POST',
        agent: secure ? this.agents.https : this.agents.http,
        lookup: this.policy.lookup as never,
        signal,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(delivery.body),
          'User-Agent': 'kv-store-webhook/1',
          'X-KV-Signature': `sha256=${signature}`,
          'X-KV-Revision': String(delivery.event.revision),
          'X-KV-Delivery': delivery.deliveryId,
          'X-KV-Subscription': subscription.id,
        },
      });
      const timer = setTimeout(() => req.destroy(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      const done = (error: string | null) => {
        clearTimeout(timer);
        resolve(error);
      };
      req.on('response', (res) => {
        res.resume(); // the body is not ours to read; drain it so the socket can be reused
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          done(status >= 200 && status < 300 ? null : `HTTP ${status}`);
        });
        res.on('error', (e) => done(e.message));
      });
      req.on('error', (e) => done(e.message));
      req.end(delivery.body);
    });
  }
}
