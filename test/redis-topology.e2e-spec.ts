import { existsSync } from 'node:fs';
import Redis, { Cluster } from 'ioredis';
import { startCluster, startSentinelSet, type TopologyNode } from './helpers/redis-topology';

/**
 * The Redis topology helper against real redis-server processes and real failovers, no kv-store involved: what the
 * Sentinel and Cluster tests of the service will stand on. Start-up and failover times are logged for maintainers.
 */
jest.setTimeout(60_000);

const START_TIMEOUT_MS = 25_000;
const FAILOVER_TIMEOUT_MS = 25_000;
/** The cluster's shape (at least 1 replica per primary, to fail over to): more replicas cost start-up time, not meaning. */
const PRIMARIES = 3;
const REPLICAS_PER_PRIMARY = 1;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('redis-topology helper: real failovers', () => {
  let topology: { close(): Promise<void> } | undefined;
  const clients: Array<Redis | Cluster> = [];
  /** What the clients reported while their server went away; printed with the timings. */
  const clientErrors: string[] = [];

  const track = <T extends Redis | Cluster>(client: T): T => {
    client.on('error', (error: Error) => clientErrors.push(error.message));
    clients.push(client);
    return client;
  };
  /** A plain connection to one node that gives up instead of reconnecting. */
  const direct = (node: TopologyNode) => track(new Redis({ host: node.host, port: node.port, maxRetriesPerRequest: 0, retryStrategy: () => null }));

  afterEach(async () => {
    // An ended client (its server was killed) has nothing to close; disconnecting it would arm a 2 s timer.
    for (const client of clients.splice(0)) if (client.status !== 'end') client.disconnect();
    clientErrors.splice(0);
    await topology?.close();
    topology = undefined;
  });

  it('Sentinel set: SIGKILL the primary, a sentinel promotes a replica, a Sentinel-mode client keeps what was replicated and writes again', async () => {
    const set = await startSentinelSet({ replicas: 2, sentinels: 3, startTimeoutMs: START_TIMEOUT_MS });
    topology = set;
    const [primary, ...replicas] = set.nodes;
    expect(await primary.role()).toBe('master');
    for (const replica of replicas) {
      expect(await replica.role()).toBe('slave');
      expect(await replica.info('replication')).toMatchObject({ master_port: String(primary.port), master_link_status: 'up' });
    }
    for (const sentinel of set.sentinels) expect(await sentinel.role()).toBe('sentinel');
    expect(set.sentinelAddresses).toEqual(set.sentinels.map((s) => `127.0.0.1:${s.port}`));
    const ports = [...set.nodes, ...set.sentinels].map((n) => n.port);
    expect(new Set(ports).size).toBe(6);
    expect(ports).not.toContain(6379);
    expect(await set.currentPrimary()).toBe(primary);

    const client = track(new Redis({ sentinels: [...set.sentinelEndpoints], name: set.name }));
    await client.set('before', 'kept');
    expect(await client.wait(2, 5000)).toBe(2); // both replicas acknowledged it

    const killedAt = Date.now();
    await primary.kill();
    const next = await set.waitForFailover(primary.port, FAILOVER_TIMEOUT_MS);
    const failoverMs = Date.now() - killedAt;
    console.log(`sentinel set (1 primary, 2 replicas, 3 sentinels): started in ${set.startupMs} ms; failover ${primary.address} -> ${next.address} in ${failoverMs} ms; client errors meanwhile: ${clientErrors.length}`);

    expect(primary.state).toBe('exited');
    expect(alive(primary.pid)).toBe(false);
    expect(replicas).toContain(next);
    expect(await set.currentPrimary()).toBe(next);
    expect(await client.get('before')).toBe('kept');
    await client.set('after', 'written');
    expect(await next.call('GET', 'after')).toBe('written'); // the Sentinel-mode client found the new primary
    await expect(primary.call('PING')).rejects.toThrow(); // nothing answers on its port any more

    const sentinel = set.sentinels[2];
    await sentinel.stop();
    expect(sentinel.state).toBe('exited');
    expect(alive(sentinel.pid)).toBe(false);
  });

  it('Sentinel set: a write acknowledged after cutReplicas() while the replica is paused is lost by the failover; close() ends a paused node and removes the directory', async () => {
    const set = await startSentinelSet({ replicas: 1, sentinels: 3, startTimeoutMs: START_TIMEOUT_MS });
    topology = set;
    const [primary, replica] = set.nodes;
    const writer = direct(primary);
    await writer.set('synced', 'yes');
    expect(await writer.wait(1, 5000)).toBe(1);

    // Paused, the replica would still find the next write in its socket buffer on resume: cut the link too.
    replica.pause();
    expect(replica.state).toBe('paused');
    expect(await primary.cutReplicas()).toBe(1);
    await writer.set('unsynced', 'yes');
    expect(await writer.wait(1, 200)).toBe(0);
    const killedAt = Date.now();
    await primary.kill();
    replica.resume();
    const next = await set.waitForFailover(primary.port, FAILOVER_TIMEOUT_MS);
    console.log(`sentinel set (1 primary, 1 replica, 3 sentinels): started in ${set.startupMs} ms; failover after cutReplicas ${primary.address} -> ${next.address} in ${Date.now() - killedAt} ms`);

    expect(next).toBe(replica);
    expect(await next.call('GET', 'synced')).toBe('yes');
    expect(await next.call('GET', 'unsynced')).toBeNull();
    await expect(set.sentinels[0].cutReplicas()).rejects.toThrow(/sentinel, not a primary/);

    next.pause();
    const started = [...set.nodes, ...set.sentinels];
    await set.close();
    for (const node of started) {
      expect(node.state).toBe('exited');
      expect(alive(node.pid)).toBe(false);
    }
    expect(existsSync(set.dir)).toBe(false);
  });

  it('Cluster: SIGKILL the owner of {kv:}rev\'s slot, its replica takes over, a Cluster client reads and writes the key again', async () => {
    const cluster = await startCluster({ primaries: PRIMARIES, replicasPerPrimary: REPLICAS_PER_PRIMARY, startTimeoutMs: START_TIMEOUT_MS });
    topology = cluster;
    const roles = await Promise.all(cluster.nodes.map((n) => n.role()));
    expect(roles.filter((r) => r === 'master')).toHaveLength(PRIMARIES);
    expect(roles.filter((r) => r === 'slave')).toHaveLength(PRIMARIES * REPLICAS_PER_PRIMARY);
    expect(cluster.seeds).toEqual(cluster.nodes.map((n) => `127.0.0.1:${n.port}`));
    expect(cluster.nodes.map((n) => n.port)).not.toContain(6379);

    const key = '{kv:}rev';
    const slot = await cluster.slotOfKey(key);
    const owner = await cluster.ownerOfKey(key);
    expect(await cluster.currentPrimary(slot)).toBe(owner);
    const writer = direct(owner);
    await writer.set(key, '1'); // a MOVED here would mean ownerOfKey named the wrong node
    expect(await writer.wait(REPLICAS_PER_PRIMARY, 5000)).toBe(REPLICAS_PER_PRIMARY);
    const otherPrimary = cluster.nodes.find((n, i) => roles[i] === 'master' && n !== owner)!;
    await expect(otherPrimary.call('GET', key)).rejects.toThrow(new RegExp(`MOVED ${slot} 127.0.0.1:${owner.port}`));
    const ownReplicas: TopologyNode[] = [];
    for (const node of cluster.nodes) if ((await node.info('replication')).master_port === String(owner.port)) ownReplicas.push(node);
    expect(ownReplicas).toHaveLength(REPLICAS_PER_PRIMARY);

    const killedAt = Date.now();
    await owner.kill();
    const next = await cluster.waitForFailover(owner.port, FAILOVER_TIMEOUT_MS);
    console.log(`cluster (${PRIMARIES} primaries, ${REPLICAS_PER_PRIMARY} replica(s) each): started in ${cluster.startupMs} ms; failover of slot ${slot} ${owner.address} -> ${next.address} in ${Date.now() - killedAt} ms`);

    expect(ownReplicas).toContain(next);
    expect(await next.role()).toBe('master');
    expect(await cluster.ownerOfKey(key)).toBe(next);
    const client = track(new Cluster([...cluster.seeds]));
    expect(await client.get(key)).toBe('1');
    await client.set(key, '2');
    expect(await next.call('GET', key)).toBe('2');
  });
});
