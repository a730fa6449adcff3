import net from 'node:net';
import request from 'supertest';
import { raw } from './helpers/raw-http';
import { openSse, type SseClient } from './helpers/sse-client';
import { startTestApp, type TestApp } from './helpers/test-app';
import { until } from './helpers/until';

const json = { 'Content-Type': 'application/json' };
const READ = 'read-key-0123456789abcdef';
const READ2 = 'read-key-2-0123456789abcdef';


function jsonErrorOf(answer: string): { status: number; body: Record<string, unknown> } {
  const [head, body] = answer.split('\r\n\r\n');
  expect(head).toMatch(/content-type: application\/json/i);
  return { status: Number(head.split(' ')[1]), body: JSON.parse(body) as Record<string, unknown> };
}

describe('hardening (e2e)', () => {
  let t: TestApp;
  const streams: SseClient[] = [];
  afterEach(async () => {
    streams.splice(0).forEach((s) => s.close());
    await t?.close();
  });

  describe('rate limits', () => {
    it('answers 429 with Retry-After past RATE_LIMIT per client address, never for probes and metrics', async () => {
      t = await startTestApp({ RATE_LIMIT: '3', RATE_LIMIT_WINDOW_MS: '60000' });
      for (let i = 0; i < 3; i++) await request(t.url).get('/get/a').expect(404);
      const limited = await request(t.url).get('/get/a');
      expect(limited.status).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(limited.body).toEqual({ status: 'error', statusCode: 429, message: 'Rate limit exceeded: RATE_LIMIT=3 requests per RATE_LIMIT_WINDOW_MS=60000' });
      // A client cannot pick a new address for itself unless TRUST_PROXY says the proxy is believed.
      expect((await request(t.url).get('/get/a').set('X-Forwarded-For', '203.0.113.7')).status).toBe(429);
      for (let i = 0; i < 5; i++) {
        await request(t.url).get('/health/live').expect(200);
        await request(t.url).get('/metrics').expect(200);
      }
    });

    it('counts per API key, and per forwarded address behind a trusted proxy', async () => {
      t = await startTestApp({ RATE_LIMIT: '2', API_KEYS: `read:${READ},read:${READ2}` });
      for (let i = 0; i < 2; i++) await request(t.url).get('/get/a').set('X-API-Key', READ).expect(404);
      expect((await request(t.url).get('/get/a').set('X-API-Key', READ)).status).toBe(429);
      await request(t.url).get('/get/a').set('X-API-Key', READ2).expect(404);
      await t.close();

      t = await startTestApp({ RATE_LIMIT: '1', TRUST_PROXY: 'loopback' });
      await request(t.url).get('/get/a').set('X-Forwarded-For', '203.0.113.7').expect(404);
      expect((await request(t.url).get('/get/a').set('X-Forwarded-For', '203.0.113.7')).status).toBe(429);
      await request(t.url).get('/get/a').set('X-Forwarded-For', '203.0.113.8').expect(404);
    });

    it('limits concurrent watch streams per client (429), freeing a slot when one closes', async () => {
      t = await startTestApp({ WATCH_MAX_STREAMS_PER_CLIENT: '2', API_KEYS: `read:${READ},read:${READ2}` });
      const auth = { Authorization: `Bearer ${READ}` };
      streams.push(await openSse(`${t.url}/watch`, auth), await openSse(`${t.url}/watch`, auth));
      const third = await request(t.url).get('/watch').set(auth);
      expect(third.status).toBe(429);
      expect(third.headers['retry-after']).toBe('5');
      expect(third.body.message).toMatch(/WATCH_MAX_STREAMS_PER_CLIENT=2/);
      streams.push(await openSse(`${t.url}/watch`, { Authorization: `Bearer ${READ2}` }));
      streams.shift()?.close();
      await until(async () => (await request(t.url).get('/metrics')).text.includes('kv_watch_streams 2'), 5000, 20);
      streams.push(await openSse(`${t.url}/watch`, auth));
      expect(streams.at(-1)?.status).toBe(200);
    });
  });

  describe('headers', () => {
    it('sends the API security headers with JSON answers, and no CORS headers unless origins are configured', async () => {
      t = await startTestApp();
      const res = await request(t.url).get('/get/a').set('Origin', 'https://evil.example');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['strict-transport-security']).toMatch(/^max-age=\d+/);
      // Only HTML documents heed these: not sent with JSON.
      for (const name of ['cross-origin-opener-policy', 'origin-agent-cluster', 'x-dns-prefetch-control', 'x-xss-protection', 'x-powered-by']) {
        expect({ name, value: res.headers[name] }).toEqual({ name, value: undefined });
      }
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      // An error answer is JSON too, and gets the same set.
      const missing = await request(t.url).get('/keys/absent');
      expect(missing.status).toBe(404);
      expect(missing.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
    });

    it("sends helmet's full set for HTML documents with the docs page and its files, whatever the path's case", async () => {
      t = await startTestApp();
      for (const path of ['/docs', '/docs/', '/DOCS', '/docs-json']) {
        const res = await request(t.url).get(path).redirects(1);
        expect({ path, status: res.status }).toEqual({ path, status: 200 });
        expect(res.headers['content-security-policy']).toMatch(/default-src 'self'.*script-src 'self'/);
        expect(res.headers['content-security-policy']).not.toMatch(/upgrade-insecure-requests/);
        expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
        expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
        expect(res.headers['x-powered-by']).toBeUndefined();
      }
    });

    it('answers CORS preflights for the configured origins only', async () => {
      t = await startTestApp({ CORS_ORIGINS: 'https://app.example' });
      const ok = await request(t.url).options('/keys/a').set({ Origin: 'https://app.example', 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'authorization,content-type,if-match' });
      expect(ok.status).toBe(204);
      expect(ok.headers['access-control-allow-origin']).toBe('https://app.example');
      expect(ok.headers['access-control-allow-headers']).toMatch(/Authorization/);
      const other = await request(t.url).get('/get/a').set('Origin', 'https://evil.example');
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
      const exposed = await request(t.url).get('/get/a').set('Origin', 'https://app.example');
      expect(exposed.headers['access-control-expose-headers']).toMatch(/ETag/);
    });
  });

  describe('limits', () => {
    it('answers 414 for a URL over HTTP_MAX_URL_BYTES', async () => {
      t = await startTestApp({ HTTP_MAX_URL_BYTES: '512' });
      await request(t.url).get(`/get/${'a'.repeat(400)}`).expect(404);
      const res = await request(t.url).get(`/get/${'a'.repeat(600)}`);
      expect(res.status).toBe(414);
      expect(res.body).toEqual({ status: 'error', statusCode: 414, message: expect.stringMatching(/HTTP_MAX_URL_BYTES=512/) });
    });

    it('answers 431 in JSON for a request head over HTTP_MAX_HEADER_BYTES, and 400 in JSON for malformed HTTP', async () => {
      t = await startTestApp({ HTTP_MAX_HEADER_BYTES: '4096' });
      const big = jsonErrorOf(await raw(t.url, `GET /get/a HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(8000)}\r\n\r\n`));
      expect(big).toEqual({ status: 431, body: { status: 'error', statusCode: 431, message: 'Request head exceeds HTTP_MAX_HEADER_BYTES=4096' } });
      const malformed = jsonErrorOf(await raw(t.url, 'GET /get/a HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'));
      expect(malformed).toEqual({ status: 400, body: { status: 'error', statusCode: 400, message: 'Malformed HTTP request' } });
      await request(t.url).get('/health/live').expect(200);
    });

    it('answers 400 for JSON nested deeper than KV_MAX_JSON_DEPTH, and takes the limit itself', async () => {
      t = await startTestApp();
      const nest = (depth: number) => `{"k":${'['.repeat(depth - 1)}1${']'.repeat(depth - 1)}}`;
      await request(t.url).post('/set').set(json).send(nest(64)).expect(200);
      const deep = await request(t.url).post('/set').set(json).send(nest(65));
      expect(deep.status).toBe(400);
      expect(deep.body.message).toBe('JSON body is nested deeper than KV_MAX_JSON_DEPTH=64');
      const huge = await request(t.url).put('/keys/k').set(json).send(`{"value":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
      expect(huge.status).toBe(400);
      expect((await request(t.url).get('/get/k')).body.value).toHaveLength(1);
    });

    it('answers 408 in JSON when a request body does not arrive within HTTP_REQUEST_TIMEOUT_MS; watch streams are exempt', async () => {
      t = await startTestApp({ HTTP_REQUEST_TIMEOUT_MS: '300' });
      // A body that never finishes arriving: the route cannot answer, the timeout does.
      const answer = await raw(t.url, 'POST /set HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":', 5000);
      expect(jsonErrorOf(answer)).toEqual({ status: 408, body: { status: 'error', statusCode: 408, message: 'Request not received within HTTP_REQUEST_TIMEOUT_MS=300' } });
      // Every spelling the router accepts for the watch route is exempt.
      const stream = await openSse(`${t.url}/watch`);
      const other = await openSse(`${t.url}/WATCH/`);
      streams.push(stream, other);
      await new Promise((r) => setTimeout(r, 600));
      await request(t.url).post('/set').set(json).send('{"b":1}').expect(200);
      await stream.waitFor(() => stream.events().length === 1);
      await other.waitFor(() => other.events().length === 1);
    });
  });

  describe('inputs the fuzz suite found mishandled', () => {
    beforeEach(async () => {
      t = await startTestApp();
    });

    it('pages a listing requested as //', async () => {
      await request(t.url).post('/set').set(json).send('{"a":1,"b":2}').expect(200);
      const res = await request(t.url).get('//?limit=1').expect(200);
      expect(res.headers.link).toBe('<//?limit=1&after=a>; rel="next"');
    });

    it('refuses out-of-range numbers and a null ttl instead of storing something else', async () => {
      for (const body of ['{"value":1e999}', `{"value":[${'9'.repeat(400)}]}`]) {
        const res = await request(t.url).put('/keys/n').set(json).send(body);
        expect(res.status).toBe(400);
        expect(res.body.message).toBe('JSON body has a number out of range (beyond ±1.8e308)');
      }
      expect((await request(t.url).post('/set').set(json).send('{"n":-1e400}')).status).toBe(400);
      const nullTtl = await request(t.url).put('/keys/n').set(json).send('{"value":1,"ttl":null}');
      expect(nullTtl.status).toBe(400);
      expect(nullTtl.body.message).toMatch(/ttl must be an integer/);
      await request(t.url).get('/keys/n').expect(404);
    });

    it('refuses query parameters named __proto__, constructor or prototype like any unknown one', async () => {
      for (const name of ['__proto__', 'constructor', 'prototype']) {
        const res = await request(t.url).get(`/keys?${name}=1`);
        expect(res.status).toBe(400);
        expect(res.body.message).toBe(`Invalid request: property ${name} should not exist`);
      }
    });

    it('answers HEAD /watch at once without holding a stream', async () => {
      const res = await request(t.url).head('/watch').timeout(3000);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/event-stream/);
      expect((await request(t.url).get('/metrics')).text).toMatch(/^kv_watch_streams 0$/m);
    });

    it('answers an unsupported Expect, absolute-form targets and HEAD to a huge head in JSON (or without a body)', async () => {
      const expectation = jsonErrorOf(await raw(t.url, 'GET /health/live HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n'));
      expect(expectation).toEqual({ status: 417, body: { status: 'error', statusCode: 417, message: 'Expectation not supported: foo' } });
      expect(await raw(t.url, 'GET http://localhost/get/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1.1 404 [\s\S]*"Key not found"/);
      const bad = jsonErrorOf(await raw(t.url, 'GET http://[::1/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      expect(bad).toEqual({ status: 400, body: { status: 'error', statusCode: 400, message: 'Malformed request target: expected a path such as /keys/a' } });
      const head = await raw(t.url, `HEAD /get/${'x'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(head).toMatch(/^HTTP\/1.1 431 /);
      expect(head.split('\r\n\r\n')[1]).toBe('');
    });

    it.each([
      ['an unsupported Expect', '/keys/big', 'Expect: foo\r\n', /^HTTP\/1.1 417 [\s\S]*Connection: close[\s\S]*"Expectation not supported: foo"/],
      ['a malformed request target', 'http://[::1/keys/big', '', /^HTTP\/1.1 400 [\s\S]*Connection: close[\s\S]*"Malformed request target/],
    ])('lets a client that sends its whole body before reading (as curl does) read the answer to %s, instead of a reset', async (_, target, extra, answer) => {
      const port = Number(new URL(t.url).port);
      // 16 MiB: far more than the socket buffers on both sides hold, so the answer comes while the client is still writing.
      const body = Buffer.alloc(16 * 1024 * 1024, 'a');
      const head = `PUT ${target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${extra}Content-Length: ${body.length}\r\n\r\n`;
      const outcome = await new Promise<string>((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        const received: Buffer[] = [];
        socket.on('error', (e: NodeJS.ErrnoException) => resolve(`${e.code ?? e.message} after ${Buffer.concat(received).length} bytes`));
        socket.on('connect', () => {
          // Not reading until everything is written: what reaches us before a reset would be lost with it.
          socket.pause();
          socket.write(Buffer.concat([Buffer.from(head), body]), () => {
            socket.on('data', (chunk: Buffer) => received.push(chunk));
            socket.on('end', () => resolve(Buffer.concat(received).toString('latin1')));
            socket.resume();
          });
        });
      });
      expect(outcome).toMatch(answer);
      await request(t.url).get('/keys/big').expect(404);
    });
  });
});
