/**
 * What the redis driver's write script costs Redis (a script, not a test): `npm run bench:redis-script`.
 *
 * Starts a private redis-server (pinned to CPU 1, this script to CPU 0 where `taskset` exists) and writes through
 * the driver itself (RedisStore over ioredis, as the service wires it, with the default WATCH_HISTORY and
 * WATCH_HISTORY_BYTES): first `--warmup` single-pair writes of new keys, which also fill the change stream to its
 * bound, then `--writes` more, `--concurrency` at a time, after `CONFIG RESETSTAT`. Redis's own accounting
 * (`INFO commandstats`) then gives the script's time per call (`EVALSHA`) and, for each command the script ran,
 * calls and time per write: what a write costs the one thread every replica shares, whatever the service's
 * machine. Writes bench/results/redis-script-<date>.json.
 *
 * Settings (`--name=value` or BENCH_<NAME>): warmup (20000), writes (20000), concurrency (50), rounds (3).
 */
import { commandStats, startRedisServer } from '../test/helpers/redis-server';
import { redisSubject } from '../test/helpers/redis-store';
import { childPids, LOADGEN_CPU, median, pin, SERVER_CPU, setting, today, writeResult } from './lib/harness';
import { valueOf } from './lib/scenarios';

const WARMUP = setting('warmup', 20_000);
const WRITES = setting('writes', 20_000);
const CONCURRENCY = setting('concurrency', 50);
const ROUNDS = setting('rounds', 3);
const HISTORY = 10_000;
const HISTORY_BYTES = 64 * 1024 * 1024;

async function main(): Promise<void> {
  pin(process.pid, LOADGEN_CPU);
  const redis = await startRedisServer();
  for (const pid of childPids(process.pid, 'redis-server')) pin(pid, SERVER_CPU);
  const rounds: { evalshaUs: number; commandsPerWrite: number; perWrite: Record<string, { calls: number; us: number }> }[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const s = await redisSubject(redis.url, { history: HISTORY, historyBytes: HISTORY_BYTES }, false);
      try {
        const write = async (from: number, count: number) => {
          let next = from;
          const worker = async () => {
            while (next < from + count) {
              const n = next++;
              await s.store.set([{ key: `set-${round}-${n}`, value: valueOf(n) }]);
            }
          };
          await Promise.all(Array.from({ length: CONCURRENCY }, worker));
        };
        await write(0, WARMUP);
        await s.clients[0].config('RESETSTAT');
        await write(WARMUP, WRITES);
        const stats = commandStats((await s.clients[0].info('commandstats')) as string);
        const evalsha = stats.get('evalsha') ?? { calls: 0, usec: 0 };
        const evalshaUs = evalsha.usec / evalsha.calls;
        const perWrite: Record<string, { calls: number; us: number }> = {};
        let commands = 0;
        for (const [name, stat] of stats) {
          // The script's own commands; not the script call itself, nor this benchmark's CONFIG and the reader's XREAD.
          if (name === 'evalsha' || name === 'evalsha_ro' || name.includes('|') || name === 'xread') continue;
          perWrite[name] = { calls: stat.calls / WRITES, us: stat.usec / WRITES };
          commands += stat.calls / WRITES;
        }
        rounds.push({ evalshaUs, commandsPerWrite: commands, perWrite });
        const inner = Object.entries(perWrite)
          .sort((a, b) => b[1].us - a[1].us)
          .map(([name, { calls, us }]) => `${name} ${calls.toFixed(2)}x ${us.toFixed(2)} us`)
          .join(', ');
        console.log(`[round ${round}/${ROUNDS}] EVALSHA ${evalshaUs.toFixed(1)} us per write, ${commands.toFixed(2)} commands: ${inner}`);
      } finally {
        await s.close();
      }
    }
  } finally {
    await redis.stop();
  }
  const evalshaUs = median(rounds.map((r) => r.evalshaUs));
  console.log(`median EVALSHA: ${evalshaUs.toFixed(1)} us per single-pair write of a new key (${WRITES} writes per round, ${CONCURRENCY} at a time)`);
  const file = writeResult(`redis-script-${today()}.json`, JSON.stringify({ node: process.version, date: new Date().toISOString(), warmup: WARMUP, writes: WRITES, concurrency: CONCURRENCY, evalshaUs, rounds }, null, 1));
  console.log(`written ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
