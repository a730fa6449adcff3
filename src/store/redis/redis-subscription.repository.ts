import type { Redis } from 'ioredis';
import { type NewSubscription, type Subscription, SubscriptionRepository } from '../../subscription/subscription.repository';
import { guardRedis } from './redis.connection';
import type { RedisKeyspace } from './redis.keyspace';
import type { RedisWriter } from './redis.writer';
import { CREATE_SUBSCRIPTION, DELETE_SUBSCRIPTION } from './redis-webhook.scripts';

/**
 * Subscriptions of the Redis driver: stored beside the keyspace, so every replica sees the same ones and they
 * survive restarts. Creating one also creates its consumer group on the change feed, at the same revision, in
 * one script: no event falls between the subscription and its group.
 */
export class RedisSubscriptionRepository extends SubscriptionRepository {
  constructor(
    private readonly redis: Redis,
    /** Creations and deletions are writes: replicated as REDIS_MIN_REPLICA_ACKS asks. */
    private readonly writer: RedisWriter,
    private readonly keyspace: RedisKeyspace,
  ) {
    super();
    writer.define('kvSubscriptionCreate', CREATE_SUBSCRIPTION, 4);
    writer.define('kvSubscriptionDelete', DELETE_SUBSCRIPTION, 6);
  }

  async create(input: NewSubscription, max: number): Promise<Subscription | null> {
    const k = this.keyspace;
    const start = Number(
      await this.writer.run('kvSubscriptionCreate', [
        k.subscriptions,
        k.subscription(input.id),
        k.revision,
        k.feed,
        input.id,
        JSON.stringify(input),
        max,
        k.webhookGroup(input.id),
      ]),
    );
    return start < 0 ? null : { ...input, startRevision: start };
  }

  /** Ids of every subscription, in no particular order (the dispatcher's work list). */
  ids(): Promise<string[]> {
    return guardRedis(() => this.redis.smembers(this.keyspace.subscriptions));
  }

  list(): Promise<Subscription[]> {
    return guardRedis(async () => {
      const found = await Promise.all((await this.redis.smembers(this.keyspace.subscriptions)).map((id) => this.read(id)));
      return found
        .filter((s): s is Subscription => s !== null)
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    });
  }

  get(id: string): Promise<Subscription | null> {
    return guardRedis(() => this.read(id));
  }

  async delete(id: string): Promise<boolean> {
    const k = this.keyspace;
    return (
      Number(
        await this.writer.run('kvSubscriptionDelete', [
          k.subscriptions,
          k.subscription(id),
          k.webhookLease(id),
          k.webhookState(id),
          k.webhookDeadLetters(id),
          k.feed,
          id,
          k.webhookGroup(id),
        ]),
      ) === 1
    );
  }

  private async read(id: string): Promise<Subscription | null> {
    const [json, start] = await this.redis.hmget(this.keyspace.subscription(id), 'json', 'start');
    return json === null ? null : { ...(JSON.parse(json) as NewSubscription), startRevision: Number(start) };
  }
}
