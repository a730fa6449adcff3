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
/** Whether `p` settles within `ms`. The timer is cleared either way: left running, it kept Jest's process alive after the run. */
async function settled(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

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

  it('dead-letters an event its queue could not read in full without sending it, and goes on', async () => {
    const { queue, asked } = heldQueue();
    const deadLettered: [number, string][] = [];
    queue.deadLetter = async (delivery, error) => void deadLettered.push([delivery.event.revision, error]);
    const counted: string[] = [];
    // `sender` has no post(): sending the event would throw, and the lane would log and retry instead.
    const lane = new DeliveryLane(subscription, queue, sender, (result) => void counted.push(result)).start();
    await Promise.resolve();
    const event = { type: 'put', key: 'broken', keyspace: 'ks', revision: 2, time: new Date().toISOString() } as const;
    asked[0]({ event, body: '{}', deliveryId: 'd', attempts: 0, undeliverable: 'its change feed entry 2-0 cannot be read (bad JSON)' });
    for (let i = 0; i < 10 && asked.length < 2; i++) await new Promise((r) => setImmediate(r));
    expect(deadLettered).toEqual([[2, 'its change feed entry 2-0 cannot be read (bad JSON)']]);
    expect(counted).toEqual(['dead_lettered']);
    expect(asked).toHaveLength(2); // the next head is read
    asked[1](null);
    expect(await settled(lane.drain(), 2000)).toBe(true);
  });
});
