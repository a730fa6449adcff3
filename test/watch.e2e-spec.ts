import http from 'node:http';
import net from 'node:net';
import request from 'supertest';
import { ChangeFeed } from '../src/store/change-feed';
import { WatchService } from '../src/subscription/watch.service';
import { openSse, refusedBody, type SseClient } from './helpers/sse-client';
import { until } from './helpers/until';
import { DRIVERS, useDriver } from './helpers/drivers';
import { startTestApp, type TestApp } from './helpers/test-app';

describe.each(DRIVERS)('GET /watch (e2e, real event streams, %s driver)', (driverName) => {
  const driver = useDriver(driverName);
  let t: TestApp;
  const clients: SseClient[] = [];
  const json = { 'Content-Type': 'application/json' };

  async function watch(query = '', headers: Record<string, string> = {}): Promise<SseClient> {
    const client = await openSse(`${t.url}/watch${query}`, headers);
    clients.push(client);
    return client;
  }
  const set = (pairs: Record<string, unknown>, query = '') => request(t.url).post(`/set${query}`).set(json).send(JSON.stringify(pairs)).expect(200);
  /** The revisions of a stream's events, after checking that every id is `<keyspace>:<revision>` of one keyspace. */
  const revisions = (c: SseClient) => {
    // Frames without an id (overflow, shutdown) move no position.
    const ids = c.events().filter((e) => e.id !== '').map((e) => /^([0-9a-f]{12}):(\d+)$/.exec(e.id));
    expect(ids.every((id) => id !== null && id[1] === ids[0]![1])).toBe(true);
    return ids.map((id) => Number(id![2]));
  };
  /** The store's keyspace, as the API shows it. */
  const keyspaceOf = async (): Promise<string> => (await request(t.url).get('/health/ready')).body.details.store.keyspace as string;
  const ids = (keyspace: string, ...revs: number[]) => revs.map((r) => `${keyspace}:${r}`);
  const closeAll = () => clients.splice(0).forEach((c) => c.close());

  afterEach(async () => {
    closeAll();
    await t?.close();
  });

  describe('streams', () => {
    beforeEach(async () => {
      t = await startTestApp({ ...driver.env(), KV_EXPIRY_SWEEP_INTERVAL_MS: '50' });
    });

    it('answers with proxy-friendly event-stream headers', async () => {
      const c = await watch();
      expect(c.status).toBe(200);
      expect(c.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(c.headers['cache-control']).toMatch(/no-cache/);
      expect(c.headers['x-accel-buffering']).toBe('no');
    });

    it('sends put, put-with-prevValue, delete and expire events with id = revision and event = type', async () => {
      const c = await watch();
      await set({ key: 'k', value: 1 });
      await set({ key: 'k', value: { v: 2 } });
      await request(t.url).delete('/keys/k').expect(204);
      await set({ key: 't', value: 'bye' }, '?ttl=1');
      await c.waitFor(() => c.events().length === 5, 4000);
      const events = c.events();
      const keyspace = await keyspaceOf();
      expect(events.map((e) => [e.id, e.event])).toEqual([
        [`${keyspace}:1`, 'put'],
        [`${keyspace}:2`, 'put'],
        [`${keyspace}:3`, 'delete'],
        [`${keyspace}:4`, 'put'],
        [`${keyspace}:5`, 'expire'],
      ]);
      expect(events[0].data).toEqual({ type: 'put', key: 'k', value: 1, keyspace, revision: 1, time: expect.any(String) });
      expect(events[1].data).toMatchObject({ type: 'put', key: 'k', value: { v: 2 }, prevValue: 1, revision: 2 });
      expect(events[2].data).toMatchObject({ type: 'delete', key: 'k', prevValue: { v: 2 }, revision: 3 });
      expect(events[2].data).not.toHaveProperty('value');
      expect(events[4].data).toMatchObject({ type: 'expire', key: 't', prevValue: 'bye', revision: 5 });
      // one expire event, soon after expiresAt, without anyone reading the key
      await new Promise((r) => setTimeout(r, 300));
      expect(c.events().filter((e) => e.event === 'expire')).toHaveLength(1);
    });

    it.each([
      ['?key=user:1', ['user:1']],
      ['?prefix=user:', ['user:1', 'user:12']],
      ['?suffix=:1', ['user:1', 'order:1']],
      ['', ['user:1', 'user:12', 'order:1', 'other', 'sentinel']],
    ])('filters %s', async (query, expected) => {
      const c = await watch(query);
      await set({ 'user:1': 1, 'user:12': 2, 'order:1': 3, other: 4 });
      await set({ sentinel: true });
      const all = await watch('?since=0');
      await all.waitFor(() => all.events().some((e) => e.data.key === 'sentinel'));
      // the sentinel is written after everything else, so the filtered stream has had all its events by now
      await new Promise((r) => setTimeout(r, 50));
      expect(c.events().map((e) => e.data.key)).toEqual(expected);
    });

    it('delivers a multi-pair set as consecutive revisions in one write', async () => {
      const c = await watch();
      await set({ a: 1, b: 2, c: 3 });
      await c.waitFor(() => c.events().length === 3);
      const frames = c.frames.filter((f) => f.event);
      expect(frames.map((f) => f.id)).toEqual(ids(await keyspaceOf(), 1, 2, 3));
      expect(new Set(frames.map((f) => f.chunk)).size).toBe(1);
    });

    it('keeps revision order under concurrent writes, with no gap', async () => {
      const c = await watch();
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => request(t.url).put(`/keys/k${i % 17}`).set(json).send(JSON.stringify({ value: i })).expect((r) => expect(r.status).toBeLessThan(300))),
      );
      await c.waitFor(() => c.events().length === 200);
      expect(revisions(c)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    });

    it('resumes with Last-Event-ID and with since: no gap, no duplicate', async () => {
      const first = await watch();
      for (let i = 0; i < 10; i++) await set({ [`k${i}`]: i });
      await first.waitFor(() => first.events().length === 10);
      first.close();
      for (let i = 10; i < 15; i++) await set({ [`k${i}`]: i });
      const byHeader = await watch('', { 'Last-Event-ID': '10' });
      const byQuery = await watch('?since=10');
      // Last-Event-ID wins over since (browsers resend the original URL)
      const both = await watch('?since=2', { 'Last-Event-ID': '12' });
      await set({ live: true });
      for (const c of [byHeader, byQuery]) {
        await c.waitFor(() => c.events().length === 6);
        expect(revisions(c)).toEqual([11, 12, 13, 14, 15, 16]);
      }
      await both.waitFor(() => revisions(both).includes(16));
      expect(revisions(both)).toEqual([13, 14, 15, 16]);
    });

    it('resumes without gap or duplicate while writes keep coming during the replay', async () => {
      for (let i = 0; i < 300; i++) await set({ [`seed${i}`]: i });
      let writing = true;
      const writer = (async () => {
        let i = 0;
        while (writing) await set({ [`w${i++ % 50}`]: i });
      })();
      await new Promise((r) => setTimeout(r, 50));
      const resumed = await watch('?since=100');
      await new Promise((r) => setTimeout(r, 300));
      writing = false;
      await writer;
      const last = (await request(t.url).put('/keys/end').set(json).send('{"value":1}')).body.revision as number;
      await resumed.waitFor(() => revisions(resumed).includes(last));
      const seen = revisions(resumed);
      expect(seen).toEqual(Array.from({ length: last - 100 }, (_, i) => 101 + i));
    });

    it('ends a slow consumer with event: overflow instead of buffering without bound', async () => {
      closeAll();
      await t.close();
      t = await startTestApp({ ...driver.env(), WATCH_MAX_BUFFER_BYTES: '65536' });
      const slow = await watch();
      slow.response.pause(); // stop reading: the socket and then the server-side buffer fill up
      const big = 'x'.repeat(256 * 1024);
      for (let i = 0; i < 60; i++) await set({ [`big${i}`]: big });
      slow.response.resume();
      await slow.ended;
      const last = slow.frames[slow.frames.length - 1];
      expect(last.event).toBe('overflow');
      const info = JSON.parse(last.data as string);
      const delivered = revisions(slow);
      expect(info.lastRevision).toBe(delivered[delivered.length - 1]);
      expect(info.lastEventId).toBe(slow.events().filter((e) => e.event === 'put').pop()!.id);
      expect(delivered.length).toBeLessThan(60);
      expect(t.app.get(WatchService).active).toBe(0);
      // and the client resumes from where it stopped (the replay may overflow the small buffer again on a busy
      // machine, so only its start is asserted)
      const resumed = await watch('', { 'Last-Event-ID': info.lastEventId as string });
      await resumed.waitFor(() => resumed.events().length >= 1, 10_000);
      expect(revisions(resumed)[0]).toBe(info.lastRevision + 1);
    });

    it('releases everything when clients disconnect: streams, feed listeners and heartbeat timers', async () => {
      const watchers = t.app.get(WatchService);
      const feed = t.app.get(ChangeFeed);
      const baseFeed = feed.watchers;
      const created = new Set<unknown>();
      const setSpy = jest.spyOn(global, 'setInterval');
      const clearSpy = jest.spyOn(global, 'clearInterval');
      try {
        const opened = await Promise.all(Array.from({ length: 20 }, (_, i) => watch(i % 2 ? '?prefix=a' : '')));
        setSpy.mock.results.forEach((r) => created.add(r.value));
        expect(created.size).toBe(20); // one heartbeat per stream
        expect(watchers.active).toBe(20);
        expect(feed.watchers).toBe(baseFeed + 20);
        opened.forEach((c) => c.close());
        await until(() => watchers.active === 0, 3000);
        expect(watchers.active).toBe(0);
        expect(feed.watchers).toBe(baseFeed);
        const cleared = new Set<unknown>(clearSpy.mock.calls.map(([handle]) => handle));
        expect([...created].filter((handle) => !cleared.has(handle))).toEqual([]);
      } finally {
        setSpy.mockRestore();
        clearSpy.mockRestore();
      }
    });

    it.each([
      ['?key=a&prefix=b', /at most one/],
      ['?since=-1', /since/],
      ['?since=abc', /since/],
      ['?key=', /key/],
    ])('rejects %s with 400 in the JSON error shape', async (query, message) => {
      const res = await request(t.url).get(`/watch${query}`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ status: 'error', statusCode: 400 });
      expect(res.body.message).toMatch(message);
    });

    it('rejects a malformed Last-Event-ID with 400', async () => {
      const res = await request(t.url).get('/watch').set('Last-Event-ID', 'abc');
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/Last-Event-ID/);
    });
  });

  describe('history, heartbeat, capacity, shutdown', () => {
    it('sends reset with the current revision when the requested history is gone, then continues live', async () => {
      t = await startTestApp({ ...driver.env(), WATCH_HISTORY: '5' });
      for (let i = 0; i < 10; i++) await set({ [`k${i}`]: i });
      const c = await watch('?since=2');
      // The reset first, so the write below is live, not part of what the reset skips.
      await c.waitFor(() => c.events().length === 1);
      await set({ after: true });
      await c.waitFor(() => c.events().length === 2);
      const [reset, live] = c.events();
      const keyspace = await keyspaceOf();
      expect(reset).toEqual({ id: `${keyspace}:10`, event: 'reset', data: { keyspace, revision: 10 } });
      expect(live).toMatchObject({ id: `${keyspace}:11`, event: 'put', data: { key: 'after' } });
      // within the history: a plain replay
      const fine = await watch('?since=6');
      await fine.waitFor(() => fine.events().length === 5);
      expect(revisions(fine)).toEqual([7, 8, 9, 10, 11]);
    });

    it('sends heartbeats, and advances Last-Event-ID past changes a filtered stream does not match', async () => {
      t = await startTestApp({ ...driver.env(), WATCH_HEARTBEAT_MS: '100' });
      const c = await watch('?key=watched');
      await set({ other1: 1, other2: 2 });
      const keyspace = await keyspaceOf();
      await c.waitFor(() => c.frames.some((f) => f.comment === 'heartbeat' && f.id === `${keyspace}:2`), 2000);
      await c.waitFor(() => c.frames.filter((f) => f.comment === 'heartbeat').length >= 3, 2000);
      expect(c.events()).toEqual([]);
    });

    it('answers 503 with Retry-After beyond WATCH_MAX_STREAMS, and admits again once one closes', async () => {
      t = await startTestApp({ ...driver.env(), WATCH_MAX_STREAMS: '2' });
      const a = await watch();
      await watch();
      const refused = await openSse(`${t.url}/watch`);
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('5');
      expect(refusedBody(refused)).toMatchObject({ status: 'error', statusCode: 503, message: expect.stringMatching(/WATCH_MAX_STREAMS=2/) });
      a.close();
      await a.ended;
      await until(() => t.app.get(WatchService).active <= 1, 2000);
      expect((await watch()).status).toBe(200);
    });

    it('ends open streams at shutdown with retry and the last revision, so shutdown does not hang', async () => {
      t = await startTestApp(driver.env());
      const c = await watch();
      await set({ a: 1 });
      await c.waitFor(() => c.events().length === 1);
      const started = Date.now();
      await t.close();
      await c.ended;
      expect(Date.now() - started).toBeLessThan(3000);
      const last = c.frames[c.frames.length - 1];
      const keyspace = c.events()[0].data.keyspace as string;
      expect(last).toMatchObject({ event: 'shutdown', retry: '1000', data: JSON.stringify({ lastEventId: `${keyspace}:1`, lastRevision: 1 }) });
      t = undefined as unknown as TestApp;
    });
  });

  it('works with a plain HTTP/1.1 client that reads chunk by chunk', async () => {
    t = await startTestApp(driver.env());
    const text = await new Promise<string>((resolve, reject) => {
      const req = http.get(`${t.url}/watch?key=x`, (res) => {
        let data = '';
        res.on('data', (c: Buffer) => {
          data += c.toString();
          if (data.includes('event: put')) {
            req.destroy();
            resolve(data);
          }
        });
      });
      req.on('error', reject);
      // supertest sends only once its request is awaited or then()-ed
      setTimeout(() => set({ x: 'y' }).then(() => undefined, reject), 50);
    });
    expect(text).toMatch(/id: [0-9a-f]{12}:1\nevent: put\ndata: \{"type":"put","key":"x","value":"y","keyspace":"[0-9a-f]{12}","revision":1,/);
  });

  /** Opens a watch over a raw socket with `requestText` and resolves with what arrived once `done(text)` holds. */
  const rawWatch = (requestText: string, write: () => Promise<unknown>, done: (text: string) => boolean) =>
    new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(new URL(t.url).port), '127.0.0.1', () => socket.write(requestText));
      let text = '';
      let wrote = false;
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (!wrote && text.includes(': connected')) {
          wrote = true;
          write().catch(reject);
        }
        if (done(text)) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
    });

  /** The body of a chunked HTTP/1.1 response, checking that every chunk's size line gives its exact length. */
  function dechunk(text: string): string[] {
    const chunks: string[] = [];
    let at = text.indexOf('\r\n\r\n') + 4;
    for (;;) {
      const line = text.indexOf('\r\n', at);
      if (line < 0) return chunks;
      const size = parseInt(text.slice(at, line), 16);
      expect(text.slice(at, line)).toMatch(/^[0-9a-f]+$/);
      if (line + 2 + size + 2 > text.length) return chunks;
      expect(text.slice(line + 2 + size, line + 4 + size)).toBe('\r\n');
      chunks.push(text.slice(line + 2, line + 2 + size));
      at = line + 4 + size;
    }
  }

  it('frames events as exact HTTP/1.1 chunks: one per event, one per multi-pair write', async () => {
    t = await startTestApp(driver.env());
    const host = new URL(t.url).host;
    const text = await rawWatch(
      `GET /watch HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
      async () => {
        await set({ a: 'é' });
        await set({ b: 1, c: 2 });
      },
      (received) => dechunk(received).some((chunk) => chunk.includes('"key":"c"')),
    );
    const events = dechunk(text).filter((chunk) => chunk.includes('event: put'));
    expect(events).toHaveLength(2);
    expect(events[0]).toMatch(/^id: [0-9a-f]{12}:1\nevent: put\ndata: \{[^\n]*"key":"a"[^\n]*\}\n\n$/);
    expect(events[1]).toMatch(/^id: [0-9a-f]{12}:2\nevent: put\ndata: [^\n]*\n\nid: [0-9a-f]{12}:3\nevent: put\ndata: [^\n]*\n\n$/);
  });

  it('streams to an HTTP/1.0 client without chunk framing', async () => {
    t = await startTestApp(driver.env());
    const text = await rawWatch(
      'GET /watch HTTP/1.0\r\n\r\n',
      () => set({ a: 1 }),
      (received) => received.includes('"key":"a"') && received.endsWith('\n\n'),
    );
    expect(text).not.toMatch(/transfer-encoding/i);
    expect(text.slice(text.indexOf('\r\n\r\n') + 4)).toMatch(/: connected\n\nid: [0-9a-f]{12}:1\nevent: put\ndata: \{[^\n]*"key":"a"[^\n]*\}\n\n$/);
  });

  it('streams a watch pipelined behind another request after that request is answered', async () => {
    t = await startTestApp(driver.env());
    const host = new URL(t.url).host;
    const text = await rawWatch(
      `GET /health/live HTTP/1.1\r\nHost: ${host}\r\n\r\nGET /watch HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
      () => set({ a: 1 }),
      (received) => received.includes('"key":"a"') && received.endsWith('\r\n'),
    );
    const watchResponse = text.slice(text.indexOf('HTTP/1.1', 1));
    expect(watchResponse).toMatch(/^HTTP\/1\.1 200/);
    expect(dechunk(watchResponse).join('')).toMatch(/: connected\n\nid: [0-9a-f]{12}:1\nevent: put\n/);
  });
});
