import type { Cluster, Redis } from 'ioredis';
import { StoreUnavailableError, WriteOutcomeUnknownError } from '../../common/errors/domain.errors';
import { guardRedisWrite, writeFailure } from './redis.connection';

/** REDIS_MIN_REPLICA_ACKS and where to wait for them. */
export interface ReplicaAcks {
  /** A connection of the writer's own: WAIT blocks it, and covers only the writes sent on it. */
  readonly connection: Redis;
  readonly acks: number;
  readonly timeoutMs: number;
  /**
   * REDIS_COMMAND_TIMEOUT_MS: a write still queued this long after it arrived (the groups before it were slow) is
   * refused as never sent (503, nothing written) instead of going out after its request has been answered.
   */
  readonly sendWithinMs: number;
}

/** Commands of one group commit at most: a bound on what one WAIT covers, so a burst is answered in steps. */
const MAX_BATCH = 256;

type Call = (...args: (string | number)[]) => Promise<unknown>;

interface Queued {
  readonly queuedAt: number;
  readonly name: string;
  readonly args: (string | number)[];
  resolve(reply: unknown): void;
  reject(error: Error): void;
}

/**
 * Runs the Redis driver's writes (the store's scripts, subscriptions), and makes their success mean what
 * REDIS_MIN_REPLICA_ACKS asks:
 * - 0: a write succeeds when the primary applied it (asynchronous replication, Redis's default); it runs on the
 *   shared auto-pipelined connection.
 * - n > 0: a write succeeds only once n replicas have it. Writes go out in group commits on a connection of their
 *   own, each followed by one `WAIT n timeout`: while one group waits, the next one gathers, so under load a WAIT
 *   covers many writes. Fewer acknowledgements than asked: the writes were applied by the primary but may be lost
 *   on a failover, so each one fails with WriteOutcomeUnknownError (504), never a plain success or failure.
 *
 * A failure that is Redis's refusal (read-only replica, out of memory) means nothing was written (503, 507).
 */
export class RedisWriter {
  private readonly queue: Queued[] = [];
  private flushing = false;

  constructor(
    private readonly client: Redis,
    private readonly replicas: ReplicaAcks | null,
    /** A key in the keyspace's slot that barrier() increments: WAIT covers a client's own writes only. */
    private readonly barrierKey: string,
  ) {}

  /** Whether a success means replicated (REDIS_MIN_REPLICA_ACKS > 0). */
  get waitsForReplicas(): boolean {
    return this.replicas !== null;
  }

  /** Defines a script on every connection writes may take; `numberOfKeys` omitted: each call passes its own. */
  define(name: string, lua: string, numberOfKeys?: number): void {
    for (const connection of [this.client, this.replicas?.connection]) connection?.defineCommand(name, { lua, numberOfKeys });
  }

  /** Runs the command or script `name` with `args`; fails with the domain error its failure stands for. */
  run(name: string, args: (string | number)[]): Promise<unknown> {
    if (this.replicas === null) return guardRedisWrite(() => (this.client as unknown as Record<string, Call>)[name](...args));
    return new Promise((resolve, reject) => {
      this.queue.push({ queuedAt: performance.now(), name, args, resolve, reject });
      if (this.flushing) return;
      this.flushing = true;
      // Writes started in the same turn (a Promise.all) share the first group. flush settles every write itself.
      queueMicrotask(() => void this.flush().catch(() => undefined));
    });
  }

  /**
   * Resolves once everything Redis applied before the call is on REDIS_MIN_REPLICA_ACKS replicas (a write of the
   * writer's own, then its WAIT, covers all that came before it); fails like a write otherwise. At once when writes
   * do not wait for replicas.
   */
  async barrier(): Promise<void> {
    if (this.replicas !== null) await this.run('incr', [this.barrierKey]);
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.sendable(this.queue.splice(0, MAX_BATCH));
        if (batch.length === 0) continue;
        try {
          await this.commit(batch);
        } catch (error) {
          // A failure of the client itself, before or after sending: nobody can say what was applied.
          for (const write of batch) write.reject(writeFailure(error));
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** The writes of `batch` still within REDIS_COMMAND_TIMEOUT_MS of arriving; the others are refused, unsent. */
  private sendable(batch: Queued[]): Queued[] {
    const { sendWithinMs } = this.replicas as ReplicaAcks;
    const cutoff = performance.now() - sendWithinMs;
    return batch.filter((write) => {
      if (write.queuedAt >= cutoff) return true;
      write.reject(new StoreUnavailableError(`not sent within REDIS_COMMAND_TIMEOUT_MS=${sendWithinMs}: the writes before it were waiting for replicas`));
      return false;
    });
  }

  private refreshSlots(): void {
    const cluster = this.replicas?.connection as Partial<Pick<Cluster, 'refreshSlotsCache'>> | undefined;
    cluster?.refreshSlotsCache?.();
  }

  /** Sends one group of writes and its WAIT, and answers each write. */
  private async commit(batch: Queued[]): Promise<void> {
    const { connection, acks, timeoutMs } = this.replicas as ReplicaAcks;
    {
      const pipeline = connection.pipeline();
      for (const { name, args } of batch) (pipeline as unknown as Record<string, Call>)[name](...args);
      pipeline.wait(acks, timeoutMs);
      let results: [Error | null, unknown][];
      try {
        results = (await pipeline.exec()) ?? [];
      } catch (error) {
        for (const write of batch) write.reject(writeFailure(error));
        return;
      }
      // A Redis Cluster moved the slot (a failover): nothing of this group ran (503). ioredis follows MOVED for
      // single commands, not for a pipeline with a WAIT in it: learn the new owner before the next group.
      if (results.some(([error]) => error !== null && /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN) /.test(error.message))) this.refreshSlots();
      const [waitError, acked] = results[batch.length] ?? [new Error('no reply to WAIT'), 0];
      const short =
        waitError !== null ? `waiting for replicas failed (${waitError.message})` : Number(acked) < acks ? `${Number(acked)} of ${acks} replicas had it after ${timeoutMs} ms` : null;
      batch.forEach((write, i) => {
        const [error, reply] = results[i] ?? [new Error('no reply'), null];
        if (error !== null) write.reject(writeFailure(error));
        else if (short !== null) write.reject(new WriteOutcomeUnknownError(`the Redis primary applied it, but ${short}: a failover may lose it`));
        else write.resolve(reply);
      });
    }
  }
}
