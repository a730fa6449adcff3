import { Logger } from '@nestjs/common';
import type { Subscription } from './subscription.repository';
import type { DeliveryCounter, DeliveryQueue } from './webhook-queues';
import type { Delivery, WebhookSender } from './webhook.sender';

/**
 * Works through one subscription's queue, one request at a time, strictly in order: the next event is only sent
 * once the previous one was delivered or dead-lettered. Errors of the queue itself (Redis away) pause the lane
 * and it tries again; it never ends until stopped.
 */
export class DeliveryLane {
  private static readonly logger = new Logger('WebhookDispatcher');
  private readonly abort = new AbortController();
  private draining = false;
  private wakeUp: (() => void) | null = null;
  private endSleep: (() => void) | null = null;
  private woken = false;
  private loop: Promise<void> | null = null;

  constructor(
    readonly subscription: Subscription,
    private readonly queue: DeliveryQueue,
    private readonly sender: WebhookSender,
    private readonly count: DeliveryCounter,
    /** How long to pause after the queue itself failed. */
    private readonly queueRetryMs = 1000,
  ) {}

  start(): this {
    this.loop ??= this.run();
    return this;
  }

  /** New events may be queued: look again if idle. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Aborts the request in flight and any wait, leaving the head unsettled; resolves when the lane has ended. */
  stop(): Promise<void> {
    this.abort.abort();
    return this.drain();
  }

  /**
   * Ends the lane once the request in flight (bounded by WEBHOOK_TIMEOUT_MS) is answered and settled, so a
   * shutdown does not leave a delivered event to be sent again; no retry waits, no new request.
   */
  drain(): Promise<void> {
    this.draining = true;
    this.wakeUp?.();
    this.endSleep?.();
    return this.loop ?? Promise.resolve();
  }

  private get ending(): boolean {
    return this.draining || this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    while (!this.ending) {
      try {
        this.woken = false;
        const delivery = await this.queue.head();
        if (delivery?.undeliverable !== undefined) await this.reject(delivery, delivery.undeliverable);
        else if (delivery) await this.deliver(delivery);
        else if (!this.woken) await this.idle();
      } catch (e) {
        if (this.ending) return;
        DeliveryLane.logger.warn(`webhook ${this.subscription.id}: ${e instanceof Error ? e.message : String(e)}; retrying`);
        await this.sleep(this.queueRetryMs);
      }
    }
  }

  private async deliver(delivery: Delivery): Promise<void> {
    while (!this.ending) {
      delivery.attempts++;
      const error = await this.sender.post(this.subscription, delivery, this.abort.signal);
      if (this.abort.signal.aborted) return; // the next holder of this queue settles it
      if (error === null) {
        this.count('delivered');
        await this.queue.delivered(delivery);
        return;
      }
      this.count('failed');
      if (delivery.attempts >= this.sender.maxAttempts) {
        this.count('dead_lettered');
        DeliveryLane.logger.warn(`webhook ${this.subscription.id}: dead-lettered revision ${delivery.event.revision} after ${delivery.attempts} attempt(s): ${error}`);
        await this.queue.deadLetter(delivery, error);
        return;
      }
      await this.queue.failed(delivery, error);
      await this.sleep(this.sender.backoff(delivery.attempts));
    }
  }

  /** An event its queue could not read in full: sending what was read would be sending something else. */
  private async reject(delivery: Delivery, reason: string): Promise<void> {
    this.count('dead_lettered');
    DeliveryLane.logger.error(`webhook ${this.subscription.id}: dead-lettered revision ${delivery.event.revision} without sending it: ${reason}`);
    await this.queue.deadLetter(delivery, reason);
  }

  private idle(): Promise<void> {
    // drain() or stop() may have come while the queue was being read, when there was no wait to end yet.
    if (this.ending) return Promise.resolve();
    return new Promise<void>((resolve) => (this.wakeUp = resolve)).finally(() => (this.wakeUp = null));
  }

  private sleep(ms: number): Promise<void> {
    if (this.ending) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.endSleep = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => (this.endSleep = null));
  }
}
