import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KvHttpClient } from './kv-http.client';
import { type ChangeEvent, watchChanges } from './watch.client';

/**
 * A stand-in kv-store /watch on 127.0.0.1: each connection gets the next script, which writes SSE text and then
 * either ends the response or leaves it open and silent.
 */
async function standIn(scripts: ((res: http.ServerResponse, req: http.IncomingMessage) => void)[]) {
  const requests: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    (scripts[requests.length - 1] ?? (() => undefined))(res, req);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

const frame = (id: string, event: Partial<ChangeEvent> & { keyspace: string }) => `id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;

describe('watchChanges', () => {
  let server: Awaited<ReturnType<typeof standIn>> | undefined;
  afterEach(async () => server?.close());

  it('replaces a stream that delivers nothing for idleTimeoutMs, resuming from the last id it got', async () => {
    const put = { type: 'put' as const, key: 'a', value: 1, keyspace: '0123456789ab', revision: 7, time: '2026-12-02T00:00:00.000Z' };
    server = await standIn([
      // Goes silent after one event: no heartbeat, no end, as a connection a proxy dropped without a word.
      (res) => res.write(`retry: 100\n: connected\n\n${frame('0123456789ab:7', put)}`),
      (res) => res.write(`retry: 100\n: connected\n\n${frame('0123456789ab:8', { ...put, key: 'b', revision: 8 })}`),
    ]);
    const abort = new AbortController();
    const events: ChangeEvent[] = [];
    const notices: string[] = [];
    const started = Date.now();
    await watchChanges(
      new KvHttpClient(server.url),
      // Long enough for a loaded machine to connect within it: the first connection counts against it too.
      { filter: {}, signal: abort.signal, idleTimeoutMs: 2500 },
      {
        onEvent: (event) => {
          events.push(event);
          if (events.length === 2) abort.abort();
        },
        onReset: () => undefined,
        onNotice: (message) => notices.push(message),
      },
    );
    expect(events.map((e) => [e.key, e.revision])).toEqual([['a', 7], ['b', 8]]);
    expect(server.requests.map((h) => h['last-event-id'])).toEqual([undefined, '0123456789ab:7']);
    expect(notices).toEqual(['the stream went silent; reconnecting after revision 7…', 'reconnected, resuming after revision 7']);
    // Replaced after the idle time, not before, and not only after some much longer default.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('keeps a stream that is quiet but sends heartbeats', async () => {
    const put = { type: 'put' as const, key: 'late', value: 1, keyspace: '0123456789ab', revision: 3, time: '2026-12-02T00:00:00.000Z' };
    server = await standIn([
      (res) => {
        res.write('retry: 100\n: connected\n\n');
        const beat = setInterval(() => res.write(': heartbeat\n\n'), 250);
        setTimeout(() => {
          clearInterval(beat);
          res.write(frame('0123456789ab:3', put));
        }, 6000);
        res.on('close', () => clearInterval(beat));
      },
    ]);
    const abort = new AbortController();
    const events: ChangeEvent[] = [];
    await watchChanges(
      new KvHttpClient(server.url),
      // Quiet for more than twice this, but never silent for longer than a heartbeat interval.
      { filter: {}, signal: abort.signal, idleTimeoutMs: 2500 },
      {
        onEvent: (event) => {
          events.push(event);
          abort.abort();
        },
        onReset: () => undefined,
        onNotice: () => undefined,
      },
    );
    expect(events.map((e) => e.key)).toEqual(['late']);
    expect(server.requests).toHaveLength(1);
  });

  it('resumes from the position a shutdown or a reset gave, in the form the server gave it', async () => {
    const resets: number[] = [];
    server = await standIn([
      // Ends before any event: only the shutdown frame tells where this stream stood.
      (res) => res.end('retry: 100\n: connected\n\nevent: shutdown\ndata: {"lastEventId":"0123456789ab:5","lastRevision":5}\n\n'),
      // Another history: a reset in the new keyspace, then the stream ends.
      (res) => res.end('retry: 100\n: connected\n\nid: ba9876543210:9\nevent: reset\ndata: {"keyspace":"ba9876543210","revision":9}\n\n'),
      // An id the server would refuse is not kept (the last good one is sent again).
      (res) => res.end('retry: 100\n: connected\n\n: heartbeat\nid: 00012\n\n'),
      (res) => res.write('retry: 100\n: connected\n\n'),
    ]);
    const abort = new AbortController();
    const done = watchChanges(
      new KvHttpClient(server.url),
      { filter: {}, signal: abort.signal, idleTimeoutMs: 10_000 },
      { onEvent: () => undefined, onReset: (revision) => resets.push(revision), onNotice: () => undefined },
    );
    const deadline = Date.now() + 15_000;
    while (server.requests.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    abort.abort();
    await done;
    expect(server.requests.map((h) => h['last-event-id'])).toEqual([undefined, '0123456789ab:5', 'ba9876543210:9', 'ba9876543210:9']);
    expect(resets).toEqual([9]);
  });
});
