import { plainToInstance } from 'class-transformer';
import { IsIn, IsString, Matches, MinLength, ValidateIf, validateSync, type ValidationError } from 'class-validator';
import { BoolSetting, IntSetting } from '../common/validation/transforms';

export const STORE_DRIVERS = ['memory', 'redis'] as const;
export type StoreDriver = (typeof STORE_DRIVERS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const SNAPSHOT_ON_CORRUPT = ['fail', 'ignore'] as const;
export type SnapshotOnCorrupt = (typeof SNAPSHOT_ON_CORRUPT)[number];


const MIB = 1024 * 1024;

/** `host:port`, comma-separated; a host may be an IPv6 literal in brackets. */
const HOST_PORT_LIST = /^((\[[0-9a-fA-F:.]+\]|[^\s,:[\]]+):\d{1,5})(,(\[[0-9a-fA-F:.]+\]|[^\s,:[\]]+):\d{1,5})*$/;

/**
 * Every setting the service reads, with its default, grouped by area. The table of docs/configuration.md lists
 * them in this order (test/readme-config.e2e-spec.ts checks names, order and defaults).
 */
export class EnvironmentVariables {
  // ── The HTTP server ──

  /** TCP port the HTTP server listens on. */
  @IntSetting(0, 65535)
  PORT: number = 8080;

  /** Address the HTTP server binds to. */
  @IsString()
  @MinLength(1)
  HOST: string = '0.0.0.0';

  /** Idle keep-alive connections are kept this long: above common load-balancer idle timeouts (60 s). */
  @IntSetting(1000, 3_600_000)
  KEEP_ALIVE_TIMEOUT_MS: number = 65_000;

  /** Largest request head (request line and headers); beyond it the answer is 431. */
  @IntSetting(1024, MIB)
  HTTP_MAX_HEADER_BYTES: number = 16 * 1024;

  /** Longest request URL (path and query); beyond it the answer is 414. */
  @IntSetting(256, MIB)
  HTTP_MAX_URL_BYTES: number = 8 * 1024;

  /**
   * A request (other than a watch stream) that has not been answered within this gets 503 (504 for a write received
   * in full: it may have been applied). Also the longest a
   * connection closed after an answer given before the body (417, malformed target) keeps reading that body.
   */
  @IntSetting(100, 3_600_000)
  HTTP_REQUEST_TIMEOUT_MS: number = 30_000;

  /**
   * Requests being received, handled or answered at once (a watch stream only until it has begun); beyond it 503 with
   * Retry-After. Bounds the memory request bodies and pages can take (see the memory budget).
   */
  @IntSetting(1, 1_000_000)
  HTTP_MAX_REQUESTS_IN_FLIGHT: number = 1024;

  /**
   * Which proxies to believe about the client address (X-Forwarded-For), as Express's `trust proxy`: empty for
   * none, `true`, a hop count, or comma-separated addresses/subnets (e.g. `loopback,10.0.0.0/8`).
   */
  @IsString()
  TRUST_PROXY: string = '';

  /** Origins allowed by CORS: empty for no CORS headers at all, `*`, or comma-separated origins. */
  @IsString()
  CORS_ORIGINS: string = '';

  /** Log verbosity (pino levels). */
  @IsIn(LOG_LEVELS)
  LOG_LEVEL: LogLevel = 'info';

  // ── Keys, values and requests ──

  /** Which store backs the keyspace. */
  @IsIn(STORE_DRIVERS)
  STORE_DRIVER: StoreDriver = 'memory';

  /** Longest key accepted, in bytes of UTF-8. */
  @IntSetting(1, MIB)
  KV_MAX_KEY_BYTES: number = 1024;

  /** Largest value accepted, measured as its JSON encoding in bytes. */
  @IntSetting(1, 512 * MIB)
  KV_MAX_VALUE_BYTES: number = MIB;

  /**
   * Largest request body. When unset it is derived from the key and value limits (plus room for the
   * JSON envelope), so a value of exactly KV_MAX_VALUE_BYTES can always be written.
   */
  @IntSetting(1, 1024 * MIB)
  KV_MAX_BODY_BYTES!: number;

  /** Most pairs accepted in one multi-pair POST /set. */
  @IntSetting(1, 1_000_000)
  KV_MAX_BATCH_KEYS: number = 1000;

  /**
   * Memory driver: most bytes of keys (UTF-8) and values (JSON) the store holds, counting 384 more per key for its
   * indexes; a write past it is refused with 507 and changes nothing. (On Redis, Redis's own maxmemory bounds the data.)
   */
  @IntSetting(1024, 2 ** 50)
  KV_MAX_STORE_BYTES: number = 1024 * MIB;

  /**
   * Most bytes of keys and values in one page of `GET /` or `GET /keys`: the page ends early (with its
   * `Link: rel="next"`) before the record that would pass it; a record larger than it still comes, alone.
   */
  @IntSetting(1024, 256 * MIB)
  KV_MAX_PAGE_BYTES: number = 8 * MIB;

  /** Longest TTL accepted, in seconds (default: 2^31-1, about 68 years). */
  @IntSetting(1, 2_147_483_647)
  KV_MAX_TTL_SECONDS: number = 2_147_483_647;

  /** Deepest nesting of arrays and objects accepted in a JSON body; deeper is 400. */
  @IntSetting(1, 10_000)
  KV_MAX_JSON_DEPTH: number = 64;

  /** How often the memory store sweeps expired keys out of memory, in milliseconds. */
  @IntSetting(10, 3_600_000)
  KV_EXPIRY_SWEEP_INTERVAL_MS: number = 1000;

  // ── Snapshots (memory driver) ──

  /** Memory driver: file the store is snapshotted to and restored from. Empty: no snapshots. */
  @IsString()
  SNAPSHOT_FILE: string = '';

  /** How often the snapshot is written (and once more at graceful shutdown). */
  @IntSetting(100, 86_400_000)
  SNAPSHOT_INTERVAL_MS: number = 30_000;

  /** A snapshot that cannot be read stops the start (`fail`), or is set aside and the store starts empty (`ignore`). */
  @IsIn(SNAPSHOT_ON_CORRUPT)
  SNAPSHOT_ON_CORRUPT: SnapshotOnCorrupt = 'fail';

  // ── Redis (redis driver) ──

  /**
   * Standalone Redis for STORE_DRIVER=redis: `redis://host:port` or `rediss://` (TLS). Credentials are better given as
   * REDIS_USERNAME and REDIS_PASSWORD, which need no URL-encoding. One mode at a time: this, REDIS_SENTINELS or
   * REDIS_CLUSTER_NODES.
   */
  @Matches(/^rediss?:\/\/./, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL: string = 'redis://127.0.0.1:6379';

  /** Sentinel mode: the sentinels, comma-separated `host:port`; they name the current primary of REDIS_SENTINEL_MASTER. */
  @ValidateIf((env: EnvironmentVariables) => env.REDIS_SENTINELS !== '')
  @Matches(HOST_PORT_LIST, { message: 'REDIS_SENTINELS must be comma-separated host:port entries' })
  REDIS_SENTINELS: string = '';

  /** Sentinel mode: the name of the master group the sentinels monitor. */
  @IsString()
  REDIS_SENTINEL_MASTER: string = '';

  /** Sentinel mode: the sentinels' own password, if they require one (the data nodes' is REDIS_PASSWORD). */
  @IsString()
  REDIS_SENTINEL_PASSWORD: string = '';

  /**
   * Cluster mode: seed nodes, comma-separated `host:port`. All of kv-store's keys share one hash tag, so they live in
   * one slot: the cluster gives failover, not sharding.
   */
  @ValidateIf((env: EnvironmentVariables) => env.REDIS_CLUSTER_NODES !== '')
  @Matches(HOST_PORT_LIST, { message: 'REDIS_CLUSTER_NODES must be comma-separated host:port entries' })
  REDIS_CLUSTER_NODES: string = '';

  /** ACL user of the data nodes (every mode); empty: the default user. */
  @IsString()
  REDIS_USERNAME: string = '';

  /** Password of the data nodes (every mode), as it is: no URL-encoding. */
  @IsString()
  REDIS_PASSWORD: string = '';

  /** Database number (standalone and Sentinel; a cluster has only database 0). */
  @IntSetting(0, 15)
  REDIS_DB: number = 0;

  /** TLS to the data nodes and sentinels (`rediss://` implies it for REDIS_URL). */
  @BoolSetting()
  REDIS_TLS: boolean = false;

  /**
   * Replicas that must have a write before it is answered as a success (WAIT after each write, on a connection of its
   * own). 0: asynchronous replication, as Redis does by default. Fewer acknowledgements than asked within
   * REDIS_REPLICA_ACK_TIMEOUT_MS: the answer is 504, "may have been applied".
   */
  @IntSetting(0, 16)
  REDIS_MIN_REPLICA_ACKS: number = 0;

  /** How long a write waits for REDIS_MIN_REPLICA_ACKS replicas. */
  @IntSetting(10, 60_000)
  REDIS_REPLICA_ACK_TIMEOUT_MS: number = 1000;

  /**
   * Names this deployment's keys in Redis, so several deployments can share one Redis: every key starts with the
   * hash tag `{<prefix>}` (one Redis Cluster slot for all of them), so braces cannot be part of it.
   */
  @Matches(/^[^{}]+$/, { message: 'REDIS_KEY_PREFIX must be one or more characters other than { and }' })
  REDIS_KEY_PREFIX: string = 'kv:';

  /** How long connecting to Redis may take. */
  @IntSetting(100, 600_000)
  REDIS_CONNECT_TIMEOUT_MS: number = 5000;

  /** A Redis command that has not answered within this fails, and the request with 503: fail fast in an outage. */
  @IntSetting(10, 600_000)
  REDIS_COMMAND_TIMEOUT_MS: number = 2000;

  // ── Watch streams ──

  /** Change events kept for watch replay (resume with Last-Event-ID or ?since). */
  @IntSetting(1, 10_000_000)
  WATCH_HISTORY: number = 10_000;

  /** And at most this many bytes of them (keys and values): whichever bound is reached first trims the oldest. */
  @IntSetting(1024, 2 ** 40)
  WATCH_HISTORY_BYTES: number = 64 * MIB;

  /** Interval of the SSE heartbeat comment that keeps proxies and load balancers from cutting idle streams. */
  @IntSetting(100, 3_600_000)
  WATCH_HEARTBEAT_MS: number = 15_000;

  /** Most concurrent watch streams; beyond it GET /watch answers 503. */
  @IntSetting(1, 1_000_000)
  WATCH_MAX_STREAMS: number = 10_000;

  /** Concurrent watch streams per API key (per client address when open); beyond it 429. */
  @IntSetting(1, 1_000_000)
  WATCH_MAX_STREAMS_PER_CLIENT: number = 100;

  /** Bytes a watch stream may have queued for a slow client before the server ends it with `event: overflow`. */
  @IntSetting(1024, 1024 * MIB)
  WATCH_MAX_BUFFER_BYTES: number = 4 * MIB;

  // ── Webhooks ──

  /** A webhook delivery that has not answered 2xx within this time has failed. */
  @IntSetting(100, 600_000)
  WEBHOOK_TIMEOUT_MS: number = 5000;

  /** First retry delay of a failed webhook delivery; each further retry doubles it (with jitter). */
  @IntSetting(1, 3_600_000)
  WEBHOOK_RETRY_BASE_MS: number = 1000;

  /** Longest delay between two attempts of one webhook delivery. */
  @IntSetting(1, 86_400_000)
  WEBHOOK_RETRY_MAX_MS: number = 300_000;

  /** Attempts per event before it is dead-lettered and the subscription moves on. */
  @IntSetting(1, 1000)
  WEBHOOK_MAX_ATTEMPTS: number = 8;

  /** Memory driver: undelivered events queued per subscription; beyond it the oldest are dead-lettered (on Redis, WATCH_HISTORY bounds the queue, with the up to 99 more events its stream may hold). */
  @IntSetting(1, 10_000_000)
  WEBHOOK_MAX_PENDING: number = 10_000;

  /** Memory driver: and at most this many bytes of them per subscription; beyond it the oldest are dead-lettered. */
  @IntSetting(1024, 2 ** 40)
  WEBHOOK_MAX_PENDING_BYTES: number = 16 * MIB;

  /** Most webhook subscriptions. */
  @IntSetting(1, 1_000_000)
  WEBHOOK_MAX_SUBSCRIPTIONS: number = 1000;

  /**
   * Redis driver: how long a replica's claim on delivering a subscription lasts unless renewed (it renews three
   * times per period). When a replica dies, another takes its subscriptions over after at most this long.
   */
  @IntSetting(300, 600_000)
  WEBHOOK_LEASE_MS: number = 10_000;

  /**
   * Hosts webhooks may target even though they resolve to loopback, private or link-local addresses:
   * comma-separated names, `*.example.com` patterns or IP literals. Empty: none.
   */
  @IsString()
  WEBHOOK_ALLOWED_HOSTS: string = '';

  // ── Access control ──

  /**
   * API keys with their roles: comma-separated `role:key` entries, role `read`, `write` or `admin`, keys of at
   * least 16 characters. Empty (and no API_KEYS_FILE): the service runs open, and warns so at start-up.
   */
  @IsString()
  API_KEYS: string = '';

  /** A file of `role:key` entries (separated by commas or newlines), e.g. a mounted Kubernetes Secret; added to API_KEYS. */
  @IsString()
  API_KEYS_FILE: string = '';

  /** Requests per RATE_LIMIT_WINDOW_MS per API key (per client address when open); 0 turns rate limiting off. */
  @IntSetting(0, 100_000_000)
  RATE_LIMIT: number = 0;

  /** The rate-limit window. */
  @IntSetting(1, 86_400_000)
  RATE_LIMIT_WINDOW_MS: number = 60_000;

  // ── Health and shutdown ──

  /** Readiness fails when the store does not answer a ping within this time. */
  @IntSetting(10, 60_000)
  HEALTH_STORE_TIMEOUT_MS: number = 1000;

  /**
   * After SIGTERM/SIGINT, how long the server keeps serving (while readiness already fails) so load balancers stop
   * routing to it. 0 by default, so Ctrl-C stops a local server at once; the Helm chart sets 5000 (its
   * `shutdownDelayMs`), the time Kubernetes takes to stop sending traffic to a terminating pod.
   */
  @IntSetting(0, 600_000)
  SHUTDOWN_DELAY_MS: number = 0;

  /** Then, how long in-flight requests may take to finish before their connections are closed. */
  @IntSetting(0, 600_000)
  SHUTDOWN_TIMEOUT_MS: number = 10_000;
}

/** Room for `{"key":..., "value":...}`, escapes and whitespace around the largest key and value. */
const BODY_ENVELOPE_BYTES = 64 * 1024;

/** The Redis connection mode the settings name: exactly one of standalone (REDIS_URL), Sentinel and Cluster. */
export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

export function redisModeOf(env: Pick<EnvironmentVariables, 'REDIS_SENTINELS' | 'REDIS_CLUSTER_NODES'>): RedisMode {
  if (env.REDIS_SENTINELS !== '') return 'sentinel';
  if (env.REDIS_CLUSTER_NODES !== '') return 'cluster';
  return 'standalone';
}

/** Throws, in one line, when the Redis settings name more than one mode or are not enough for theirs. */
function redisModeProblem(env: EnvironmentVariables, given: Record<string, unknown>): void {
  const fail = (problem: string): never => {
    throw new ConfigValidationError(`Invalid configuration: ${problem}`);
  };
  const modes = [['REDIS_URL', 'REDIS_URL' in given], ['REDIS_SENTINELS', env.REDIS_SENTINELS !== ''], ['REDIS_CLUSTER_NODES', env.REDIS_CLUSTER_NODES !== '']]
    .filter(([, set]) => set)
    .map(([name]) => name);
  if (modes.length > 1) fail(`${modes.join(' and ')} name different Redis modes: give exactly one (standalone REDIS_URL, Sentinel REDIS_SENTINELS, or Cluster REDIS_CLUSTER_NODES)`);
  const mode = redisModeOf(env);
  if (mode === 'sentinel' && env.REDIS_SENTINEL_MASTER === '') fail('REDIS_SENTINELS needs REDIS_SENTINEL_MASTER, the name of the master group the sentinels monitor');
  if (mode !== 'sentinel' && env.REDIS_SENTINEL_MASTER !== '') fail('REDIS_SENTINEL_MASTER is for Sentinel mode: give REDIS_SENTINELS too');
  if (mode === 'cluster' && env.REDIS_DB !== 0) fail('REDIS_DB must be 0 with REDIS_CLUSTER_NODES: a Redis Cluster has only database 0');
  if (mode === 'standalone') {
    let url: URL;
    try {
      url = new URL(env.REDIS_URL);
    } catch {
      return fail('REDIS_URL is not a valid URL (characters such as / # ? @ in a password must be percent-encoded; or give the password as REDIS_PASSWORD)');
    }
    if (url.hostname === '' || (url.pathname !== '' && !/^\/\d{0,2}$/.test(url.pathname)) || url.hash !== '' || url.search !== '') {
      fail('REDIS_URL must be redis://[user:password@]host[:port][/db]: it looks cut short (characters such as / # ? @ in a password must be percent-encoded; or give the password as REDIS_PASSWORD)');
    }
    if (url.password !== '' && env.REDIS_PASSWORD !== '') fail('a password in REDIS_URL and REDIS_PASSWORD: give it once (REDIS_PASSWORD needs no encoding)');
    try {
      decodeURIComponent(url.password);
      decodeURIComponent(url.username);
    } catch {
      fail('REDIS_URL is not a valid URL: a % in the password must start an escape such as %25 (or give the password as REDIS_PASSWORD)');
    }
  }
}

/** Thrown when the environment does not validate; its message is one line fit for a terminal. */
export class ConfigValidationError extends Error {
  override readonly name = 'ConfigValidationError';
}

function describe(error: ValidationError): string {
  const got = error.value === undefined ? '' : ` (got ${JSON.stringify(error.value)})`;
  // class-validator's messages already name the variable: "PORT must not be greater than 65535".
  return `${Object.values(error.constraints ?? {}).join(', ')}${got}`;
}

/**
 * Validates and types the raw environment. Unknown variables are ignored; blank values count as unset,
 * so `PORT=` falls back to the default instead of failing.
 */
export function validateEnvironment(raw: Record<string, unknown>): EnvironmentVariables {
  const known = new EnvironmentVariables();
  const input: Record<string, unknown> = {};
  for (const name of Object.keys(known).concat('KV_MAX_BODY_BYTES')) {
    const value = raw[name];
    if (value !== undefined && value !== '') input[name] = value;
  }
  const env = plainToInstance(EnvironmentVariables, input, { exposeDefaultValues: true });
  env.KV_MAX_BODY_BYTES ??= env.KV_MAX_VALUE_BYTES + env.KV_MAX_KEY_BYTES + BODY_ENVELOPE_BYTES;
  const errors = validateSync(env, { whitelist: true, forbidUnknownValues: true });
  if (errors.length > 0) {
    throw new ConfigValidationError(`Invalid configuration: ${errors.map(describe).join('; ')}`);
  }
  if (env.SNAPSHOT_FILE !== '' && env.STORE_DRIVER !== 'memory') {
    throw new ConfigValidationError(
      `Invalid configuration: SNAPSHOT_FILE is for the memory driver; with STORE_DRIVER=${env.STORE_DRIVER} the data lives in Redis, which keeps it itself (unset SNAPSHOT_FILE)`,
    );
  }
  redisModeProblem(env, input);
  if (env.STORE_DRIVER === 'redis') {
    // The longest a write can take to be answered: queued behind a group (REDIS_COMMAND_TIMEOUT_MS at most), sent,
    // then waiting for its own group's replicas. The request deadline should not answer first: its 504 could only
    // say "may have been applied" of a write whose outcome Redis was about to tell.
    const acks = env.REDIS_MIN_REPLICA_ACKS > 0;
    const longest = acks ? 2 * env.REDIS_COMMAND_TIMEOUT_MS + 2 * env.REDIS_REPLICA_ACK_TIMEOUT_MS : env.REDIS_COMMAND_TIMEOUT_MS;
    if (longest >= env.HTTP_REQUEST_TIMEOUT_MS) {
      throw new ConfigValidationError(
        `Invalid configuration: HTTP_REQUEST_TIMEOUT_MS (${env.HTTP_REQUEST_TIMEOUT_MS}) must be more than ${
          acks ? '2 × REDIS_COMMAND_TIMEOUT_MS + 2 × REDIS_REPLICA_ACK_TIMEOUT_MS' : 'REDIS_COMMAND_TIMEOUT_MS'
        } (${longest}), or a write could be cut off by the deadline (504, "may have been applied") before Redis tells its outcome`,
      );
    }
  }
  if (env.KV_MAX_BODY_BYTES < env.KV_MAX_VALUE_BYTES) {
    throw new ConfigValidationError(
      `Invalid configuration: KV_MAX_BODY_BYTES (${env.KV_MAX_BODY_BYTES}) must be at least KV_MAX_VALUE_BYTES (${env.KV_MAX_VALUE_BYTES}), or a value of the maximum size could never be written`,
    );
  }
  return env;
}
