import { ConfigService } from '@nestjs/config';
import type { Redis } from 'ioredis';
import { freePort } from '../../../test/helpers/free-port';
import { until } from '../../../test/helpers/until';
import type { AppConfig } from '../../config/app-config';
import { validateEnvironment } from '../../config/env.validation';
import { RedisConnections } from './redis.connection';

/** What ioredis's Sentinel failover detector does on +switch-master: drop the connector, mid-attempt or not. */
const cutLikeAFailoverDetector = (client: Redis) => (client as unknown as { connector: { disconnect(): void } }).connector.disconnect();

describe('RedisConnections', () => {
  it('connects again a client ioredis gave up while it was connecting (as after a failover), and leaves closed ones closed', async () => {
    // No sentinel listens there: every client keeps asking, and stays 'connecting'.
    const port = await freePort();
    const env = validateEnvironment({ STORE_DRIVER: 'redis', REDIS_SENTINELS: `127.0.0.1:${port}`, REDIS_SENTINEL_MASTER: 'kvstore', REDIS_CONNECT_TIMEOUT_MS: '200', REDIS_MIN_REPLICA_ACKS: '1' });
    const connections = await RedisConnections.open(new ConfigService(env) as unknown as AppConfig);
    const clients = [connections.client, connections.reader, connections.replayer, connections.writer as Redis];
    const statuses = () => clients.map((client) => client.status);
    try {
      await until(() => statuses().every((status) => status === 'connecting'), 5000);
      expect(statuses()).toEqual(['connecting', 'connecting', 'connecting', 'connecting']);
      const ended = clients.map((client) => new Promise((resolve) => client.once('end', resolve)));
      // ioredis's own outcome of a cut attempt: "Connection is closed.", and the client ends for good.
      for (const client of clients) cutLikeAFailoverDetector(client);
      await Promise.all(ended);
      await until(() => statuses().every((status) => status !== 'end'), 5000);
      expect(statuses()).not.toContain('end');
    } finally {
      connections.close();
    }
    // Longer than the sentinels' retry delay (ioredis's default, at most 1 s): a closed client's attempt has seen
    // the close by then, and no reconnection follows it.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(statuses()).toEqual(['end', 'end', 'end', 'end']);
  });
});
