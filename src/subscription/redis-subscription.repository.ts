import type { Redis } from 'ioredis';
import { guardRedis, type RedisConnection } from '../store/redis.connection';
import { CREATE_SUBSCRIPTION, DELETE_SUBSCRIPTION } from './redis-webhook.scripts';
import { type NewSubscription, type Subscription, SubscriptionRepository } from './subscription.repository';

interface SubscriptionCommands {
  kvSubscriptionCreate(...args: (string | number)[]): Promise<number>;
  kvSubscriptionDelete(...args: (string | number)[]): Promise<number>;
}

/**
 * Subscriptions of the Redis driver: stored beside the keyspace, so every replica sees the same ones and they
 * survive restarts. Creating one also creates its consumer group on the change feed, at the same revision, in
 * one script: no event falls between the subscription and its group.
 */
export class RedisSubscriptionRepository extends SubscriptionRepository {
  private readonly redis: Redis & SubscriptionCommands;
  private readonly prefix: string;

  constructor(connection: RedisConnection) {
    super();
    this.prefix = connection.prefix;
    this.redis = connection.client as Redis & SubscriptionCommands;
    this.redis.defineCommand('kvSubscriptionCreate', { numberOfKeys: 0, lua: CREATE_SUBSCRIPTION });
    this.redis.defineCommand('kvSubscriptionDelete', { numberOfKeys: 0, lua: DELETE_SUBSCRIPTION });
  }

  create(input: NewSubscription, max: number): Promise<Subscription | null> {
    return guardRedis(async () => {
      const start = await this.redis.kvSubscriptionCreate(this.prefix, input.id, JSON.stringify(input), max);
      return start < 0 ? null : { ...input, startRevision: start };
    });
  }

  /** Ids of every subscription, in no particular order (the dispatcher's work list). */
  ids(): Promise<string[]> {
    return guardRedis(() => this.redis.smembers(`${this.prefix}subs`));
  }

  list(): Promise<Subscription[]> {
    return guardRedis(async () => {
      const found = await Promise.all((await this.redis.smembers(`${this.prefix}subs`)).map((id) => this.read(id)));
      return found
        .filter((s): s is Subscription => s !== null)
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    });
  }

  get(id: string): Promise<Subscription | null> {
    return guardRedis(() => this.read(id));
  }

  delete(id: string): Promise<boolean> {
    return guardRedis(async () => (await this.redis.kvSubscriptionDelete(this.prefix, id)) === 1);
  }

  private async read(id: string): Promise<Subscription | null> {
    const [json, start] = await this.redis.hmget(`${this.prefix}sub:${id}`, 'json', 'start');
    return json === null ? null : { ...(JSON.parse(json) as NewSubscription), startRevision: Number(start) };
  }
}
