import { ConfigValidationError, redisModeOf, validateEnvironment } from './env.validation';

describe('validateEnvironment', () => {
  it('applies the documented defaults and derives the body limit from the key and value limits', () => {
    expect({ ...validateEnvironment({}) }).toEqual({
      PORT: 8080,
      HOST: '0.0.0.0',
      STORE_DRIVER: 'memory',
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_SENTINELS: '',
      REDIS_SENTINEL_MASTER: '',
      REDIS_SENTINEL_PASSWORD: '',
      REDIS_CLUSTER_NODES: '',
      REDIS_USERNAME: '',
      REDIS_PASSWORD: '',
      REDIS_DB: 0,
      REDIS_TLS: false,
      REDIS_MIN_REPLICA_ACKS: 0,
      REDIS_REPLICA_ACK_TIMEOUT_MS: 1000,
      REDIS_KEY_PREFIX: 'kv:',
      REDIS_CONNECT_TIMEOUT_MS: 5000,
      REDIS_COMMAND_TIMEOUT_MS: 2000,
      KV_MAX_KEY_BYTES: 1024,
      HTTP_MAX_REQUESTS_IN_FLIGHT: 1024,
      KV_MAX_STORE_BYTES: 1024 * 1024 * 1024,
      KV_MAX_PAGE_BYTES: 8 * 1024 * 1024,
      KV_MAX_VALUE_BYTES: 1048576,
      KV_MAX_BODY_BYTES: 1048576 + 1024 + 65536,
      KV_MAX_BATCH_KEYS: 1000,
      KV_MAX_TTL_SECONDS: 2147483647,
      KV_EXPIRY_SWEEP_INTERVAL_MS: 1000,
      WATCH_HISTORY: 10000,
      WATCH_HISTORY_BYTES: 64 * 1024 * 1024,
      WATCH_HEARTBEAT_MS: 15000,
      WATCH_MAX_STREAMS: 10000,
      WATCH_MAX_BUFFER_BYTES: 4194304,
      WEBHOOK_TIMEOUT_MS: 5000,
      WEBHOOK_RETRY_BASE_MS: 1000,
      WEBHOOK_RETRY_MAX_MS: 300000,
      WEBHOOK_MAX_ATTEMPTS: 8,
      WEBHOOK_MAX_PENDING: 10000,
      WEBHOOK_MAX_PENDING_BYTES: 16 * 1024 * 1024,
      WEBHOOK_MAX_SUBSCRIPTIONS: 1000,
      WEBHOOK_ALLOWED_HOSTS: '',
      WEBHOOK_LEASE_MS: 10000,
      SHUTDOWN_DELAY_MS: 0,
      SHUTDOWN_TIMEOUT_MS: 10000,
      KEEP_ALIVE_TIMEOUT_MS: 65000,
      HEALTH_STORE_TIMEOUT_MS: 1000,
      LOG_LEVEL: 'info',
      API_KEYS: '',
      API_KEYS_FILE: '',
      RATE_LIMIT: 0,
      RATE_LIMIT_WINDOW_MS: 60000,
      TRUST_PROXY: '',
      CORS_ORIGINS: '',
      HTTP_MAX_HEADER_BYTES: 16384,
      HTTP_MAX_URL_BYTES: 8192,
      KV_MAX_JSON_DEPTH: 64,
      HTTP_REQUEST_TIMEOUT_MS: 30000,
      WATCH_MAX_STREAMS_PER_CLIENT: 100,
      SNAPSHOT_FILE: '',
      SNAPSHOT_INTERVAL_MS: 30000,
      SNAPSHOT_ON_CORRUPT: 'fail',
    });
  });

  it('parses integers, treats blank values as unset and ignores unrelated variables', () => {
    const env = validateEnvironment({ PORT: '9000', KV_MAX_VALUE_BYTES: '10', HOST: '', HOME: '/root' });
    expect(env.PORT).toBe(9000);
    expect(env.HOST).toBe('0.0.0.0');
    expect(env.KV_MAX_BODY_BYTES).toBe(10 + 1024 + 65536);
    expect(env).not.toHaveProperty('HOME');
  });

  it.each([
    [{ PORT: '8080.5' }, 'PORT must be an integer from 0 to 65535'],
    [{ PORT: '1e3' }, 'PORT must be an integer from 0 to 65535'],
    [{ KV_MAX_KEY_BYTES: '0' }, 'KV_MAX_KEY_BYTES must be an integer from 1 to 1048576'],
    [{ STORE_DRIVER: 'mongo' }, 'STORE_DRIVER must be one of the following values: memory, redis'],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL must be a redis:// or rediss:// URL'],
  ])('rejects %j naming the variable and what is allowed', (raw, message) => {
    expect(() => validateEnvironment(raw)).toThrow(ConfigValidationError);
    expect(() => validateEnvironment(raw)).toThrow(message);
  });

  it('refuses SNAPSHOT_FILE with the redis driver, which keeps its own data', () => {
    expect(() => validateEnvironment({ STORE_DRIVER: 'redis', SNAPSHOT_FILE: '/data/kv.snapshot' })).toThrow(
      /^Invalid configuration: SNAPSHOT_FILE is for the memory driver; with STORE_DRIVER=redis the data lives in Redis/,
    );
    expect(validateEnvironment({ STORE_DRIVER: 'memory', SNAPSHOT_FILE: '/data/kv.snapshot' }).SNAPSHOT_FILE).toBe('/data/kv.snapshot');
    expect(validateEnvironment({ STORE_DRIVER: 'redis' }).SNAPSHOT_FILE).toBe('');
  });

  describe('Redis modes', () => {
    it('reads Sentinel and Cluster settings, and booleans only as true or false', () => {
      const sentinel = validateEnvironment({ REDIS_SENTINELS: 'a:26379,[::1]:26380', REDIS_SENTINEL_MASTER: 'kv', REDIS_TLS: 'true' });
      expect(redisModeOf(sentinel)).toBe('sentinel');
      expect(sentinel.REDIS_TLS).toBe(true);
      expect(redisModeOf(validateEnvironment({ REDIS_CLUSTER_NODES: '10.0.0.1:7000' }))).toBe('cluster');
      expect(redisModeOf(validateEnvironment({}))).toBe('standalone');
      expect(() => validateEnvironment({ REDIS_TLS: 'yes' })).toThrow('REDIS_TLS must be true or false');
    });

    it.each([
      [{ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000' }, 'REDIS_URL and REDIS_CLUSTER_NODES name different Redis modes: give exactly one'],
      [{ REDIS_SENTINELS: 'a:26379', REDIS_CLUSTER_NODES: 'b:7000', REDIS_SENTINEL_MASTER: 'kv' }, 'REDIS_SENTINELS and REDIS_CLUSTER_NODES name different Redis modes'],
      [{ REDIS_SENTINELS: 'a:26379' }, 'REDIS_SENTINELS needs REDIS_SENTINEL_MASTER'],
      [{ REDIS_SENTINEL_MASTER: 'kv' }, 'REDIS_SENTINEL_MASTER is for Sentinel mode'],
      [{ REDIS_SENTINELS: 'a' , REDIS_SENTINEL_MASTER: 'kv' }, 'REDIS_SENTINELS must be comma-separated host:port entries'],
      [{ REDIS_CLUSTER_NODES: 'b:7000', REDIS_DB: '3' }, 'REDIS_DB must be 0 with REDIS_CLUSTER_NODES'],
      [{ REDIS_URL: 'redis://:pa/ss@host:6379' }, 'must be percent-encoded; or give the password as REDIS_PASSWORD'],
      [{ REDIS_URL: 'redis://:pa#ss@host:6379' }, 'must be percent-encoded; or give the password as REDIS_PASSWORD'],
      [{ REDIS_URL: 'redis://:p%zz@host' }, 'REDIS_URL is not a valid URL'],
      [{ REDIS_URL: 'redis://:secret@host:6379', REDIS_PASSWORD: 'other' }, 'a password in REDIS_URL and REDIS_PASSWORD'],
      [{ REDIS_MIN_REPLICA_ACKS: '-1' }, 'REDIS_MIN_REPLICA_ACKS must be an integer from 0 to 16'],
    ])('refuses %j in one line, saying what to do', (raw, message) => {
      expect(() => validateEnvironment(raw)).toThrow(ConfigValidationError);
      expect(() => validateEnvironment(raw)).toThrow(message);
      expect(() => validateEnvironment(raw)).toThrow(/^[^\n]+$/);
    });

    it('refuses Redis timeouts that the request deadline would answer before them', () => {
      expect(() => validateEnvironment({ STORE_DRIVER: 'redis', REDIS_COMMAND_TIMEOUT_MS: '40000' })).toThrow(
        /^Invalid configuration: HTTP_REQUEST_TIMEOUT_MS \(30000\) must be more than REDIS_COMMAND_TIMEOUT_MS \(40000\)/,
      );
      expect(() => validateEnvironment({ STORE_DRIVER: 'redis', REDIS_MIN_REPLICA_ACKS: '1', REDIS_REPLICA_ACK_TIMEOUT_MS: '14000' })).toThrow(
        /must be more than 2 × REDIS_COMMAND_TIMEOUT_MS \+ 2 × REDIS_REPLICA_ACK_TIMEOUT_MS \(32000\)/,
      );
      expect(validateEnvironment({ STORE_DRIVER: 'redis', REDIS_MIN_REPLICA_ACKS: '1' }).REDIS_MIN_REPLICA_ACKS).toBe(1);
      expect(validateEnvironment({ REDIS_COMMAND_TIMEOUT_MS: '40000' }).REDIS_COMMAND_TIMEOUT_MS).toBe(40000);
    });

    it('takes a password with / # @ as REDIS_PASSWORD, with no encoding', () => {
      expect(validateEnvironment({ REDIS_URL: 'redis://host:6379', REDIS_PASSWORD: 'pa/ss#w@rd' }).REDIS_PASSWORD).toBe('pa/ss#w@rd');
      expect(validateEnvironment({ REDIS_URL: 'redis://:pa%2Fss%23@host:6379/2' }).REDIS_URL).toBe('redis://:pa%2Fss%23@host:6379/2');
    });
  });

  it('reports every invalid variable in one line', () => {
    expect(() => validateEnvironment({ PORT: 'x', LOG_LEVEL: 'y' })).toThrow(/^Invalid configuration: .*PORT.*; .*LOG_LEVEL[^\n]*$/);
  });
});
