import type { Subscription } from './subscription.repository';
import { DeliveryLane } from './delivery.lane';
import type { DeliveryQueue } from './webhook-queues';
import type { Delivery, WebhookSender } from './webhook.sender';

/** A queue whose every head() waits until the test answers it, so a stop can land while one is in flight. */
function heldQueue() {
  const asked: ((delivery: Delivery | null) => void)[] = [];
  const queue: DeliveryQueue = {
    head: () => new Promise((resolve) => asked.push(resolve)),
    delivered: async () => undefined,
    failed: async () => undefined,
    deadLetter: async () => undefined,
  };
  return { queue, asked };
}

const subscription = { id: 'sub-1' } as Subscription;
// Never called here: no head() answers with a delivery.
const sender = {} as WebhookSender;
const settled = (p: Promise<void>, ms: number) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('DeliveryLane', () => {
  it.each([
    ['drain', (lane: DeliveryLane) => lane.drain()],
    ['stop', (lane: DeliveryLane) => lane.stop()],
  ])('ends on %s() called while the queue is being read, instead of waiting idle for a wake-up that never comes', async (_, end) => {
    const { queue, asked } = heldQueue();
    const lane = new DeliveryLane(subscription, queue, sender, () => undefined).start();
    await Promise.resolve();
    expect(asked).toHaveLength(1);
    const ended = end(lane);
    asked[0](null); // the read comes back empty after the lane was told to end
    expect(await settled(ended, 2000)).toBe(true);
    expect(asked).toHaveLength(1);
  });

  it('ends on drain() while idle, and looks again when woken while reading', async () => {
    const { queue, asked } = heldQueue();
    const lane = new DeliveryLane(subscription, queue, sender, () => undefined).start();
    await Promise.resolve();
    lane.wake(); // new events arrived while the first read was in flight
    asked[0](null);
    await new Promise((r) => setImmediate(r));
    expect(asked).toHaveLength(2);
    asked[1](null);
    await new Promise((r) => setImmediate(r));
    expect(asked).toHaveLength(2); // idle now
    expect(await settled(lane.drain(), 2000)).toBe(true);
  });
});
