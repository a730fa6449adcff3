import type { Response } from 'express';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { ChangeEvent } from '../store/change-feed';
import { type SseEnd, SseStream } from './sse.stream';

const KEYSPACE = '0123456789ab';
const put = (revision: number, value: string): ChangeEvent => ({ type: 'put', key: `k${revision}`, value, keyspace: KEYSPACE, revision, time: '2026-12-02T00:00:00.000Z' });

/** The body of a chunked HTTP/1.1 response (after its headers), or null while a chunk is incomplete. */
function dechunk(body: Buffer): string | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const line = body.indexOf('\r\n', at);
    if (line < 0) return null;
    const size = parseInt(body.subarray(at, line).toString('latin1'), 16);
    if (size === 0) return Buffer.concat(parts).toString('utf8');
    if (line + 2 + size + 2 > body.length) return null;
    expect(body.subarray(line + 2 + size, line + 4 + size).toString('latin1')).toBe('\r\n');
    parts.push(body.subarray(line + 2, line + 2 + size));
    at = line + 4 + size;
  }
}

describe('SseStream', () => {
  let server: http.Server;
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('streams from a response queued behind a pipelined request, in order, once that request is answered', async () => {
    const ends: SseEnd[] = [];
    let answerFirst: () => void = () => undefined;
    let socketWhenSent: unknown = 'not sent';
    server = http.createServer((req, res) => {
      if (req.url === '/slow') {
        answerFirst = () => res.end('first');
        return;
      }
      // The second request's response has no socket yet: its bytes wait in the response until the first is done.
      const stream = new SseStream(res as Response, { heartbeatMs: 60_000, maxBufferBytes: 1 << 20, progress: () => null }, (reason) => ends.push(reason));
      stream.open({ keyspace: KEYSPACE, revision: 0 });
      socketWhenSent = res.socket;
      stream.send([put(1, 'é')]);
      stream.send([put(2, 'ü'), put(3, '€')]);
      answerFirst();
      setTimeout(() => stream.end('shutdown'), 50);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    const received = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = net.connect(port, '127.0.0.1', () =>
        socket.write(`GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /watch HTTP/1.1\r\nHost: x\r\n\r\n`),
      );
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        const all = Buffer.concat(chunks);
        const second = all.indexOf('HTTP/1.1 200', 10);
        if (second > 0 && all.includes('0\r\n\r\n', second)) {
          socket.destroy();
          resolve(all);
        }
      });
      socket.on('error', reject);
    });
    expect(socketWhenSent).toBeNull();
    const second = received.indexOf('HTTP/1.1 200', 10);
    expect(received.subarray(0, second).toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nfirst$/);
    const body = dechunk(received.subarray(received.indexOf('\r\n\r\n', second) + 4));
    expect(body).not.toBeNull();
    const frames = body!.split('\n\n').filter((frame) => frame.startsWith('id: ') && frame.includes('event: put'));
    expect(frames.map((frame) => JSON.parse(frame.slice(frame.indexOf('data: ') + 6)) as ChangeEvent)).toEqual([put(1, 'é'), put(2, 'ü'), put(3, '€')]);
    expect(body).toMatch(/^retry: 1000\nid: 0123456789ab:0\n: connected\n\n/);
    expect(body).toMatch(/event: shutdown\ndata: \{"lastEventId":"0123456789ab:3","lastRevision":3\}\n\n$/);
    expect(ends).toEqual(['shutdown']);
  });

  it('writes nothing after its response was ended elsewhere', async () => {
    const ends: SseEnd[] = [];
    let sendAfterEnd: () => void = () => undefined;
    server = http.createServer((_req, res) => {
      const stream = new SseStream(res as Response, { heartbeatMs: 60_000, maxBufferBytes: 1 << 20, progress: () => null }, (reason) => ends.push(reason));
      stream.open({ keyspace: KEYSPACE, revision: 0 });
      stream.send([put(1, 'a')]);
      // As an error answered by some other layer would: the stream is not told.
      res.end();
      // At once (the socket is still the response's) and later (it is not): neither reaches the client, nor throws.
      stream.send([put(2, 'b')]);
      stream.reset({ keyspace: KEYSPACE, revision: 9 });
      sendAfterEnd = () => {
        stream.send([put(3, 'c')]);
        stream.end('shutdown');
      };
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const received = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /watch HTTP/1.1\r\nHost: x\r\n\r\n'));
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.endsWith('0\r\n\r\n')) {
          sendAfterEnd();
          // Anything written after the end would arrive within this time on loopback.
          setTimeout(() => {
            socket.destroy();
            resolve(text);
          }, 200);
        }
      });
      socket.on('error', reject);
    });
    expect(received).toMatch(/"key":"k1"[\s\S]*\r\n0\r\n\r\n$/);
    expect(received).not.toMatch(/"key":"k[23]"|reset|shutdown/);
    expect(ends).toEqual(['client']);
  });
});
