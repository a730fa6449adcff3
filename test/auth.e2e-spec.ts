import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { openSse } from './helpers/sse-client';
import { killIfRunning, runServerProcess, type ServerProcess, startServerProcess } from './helpers/server-process';
import { startTestApp, type TestApp } from './helpers/test-app';

const READ = 'read-key-0123456789abcdef';
const WRITE = 'write-key-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';
const API_KEYS = `read:${READ},write:${WRITE},admin:${ADMIN}`;
const json = { 'Content-Type': 'application/json' };

describe('API keys (e2e)', () => {
  let t: TestApp;
  afterEach(() => t?.close());

  describe('with keys configured', () => {
    beforeEach(async () => {
      t = await startTestApp({ API_KEYS, WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' });
    });

    it('answers 401 with WWW-Authenticate for a missing, malformed or unknown key', async () => {
      const missing = await request(t.url).get('/get/a');
      expect(missing.status).toBe(401);
      expect(missing.headers['www-authenticate']).toBe('Bearer realm="kv-store"');
      expect(missing.body).toEqual({ status: 'error', statusCode: 401, message: expect.stringMatching(/API key is required/) });
      for (const headers of [{ Authorization: 'Basic dXNlcjpwYXNz' }, { Authorization: 'Bearer' }, { 'X-API-Key': ' ' }]) {
        const malformed = await request(t.url).get('/get/a').set(headers);
        expect(malformed.status).toBe(401);
        expect(malformed.headers['www-authenticate']).toBe('Bearer realm="kv-store", error="invalid_token"');
      }
      const unknown = await request(t.url).get('/get/a').set('Authorization', 'Bearer not-a-configured-key-at-all');
      expect(unknown.status).toBe(401);
      expect(unknown.body.message).toBe('Unknown API key');
      expect(JSON.stringify(unknown.body)).not.toContain('not-a-configured');
    });

    it('gives read keys the GET routes and the watch, and 403 on writes and subscriptions', async () => {
      const auth = { Authorization: `Bearer ${READ}` };
      await request(t.url).post('/set').set({ ...json, Authorization: `Bearer ${WRITE}` }).send('{"a":1}').expect(200);
      expect((await request(t.url).get('/get/a').set(auth)).body).toEqual({ key: 'a', value: 1 });
      await request(t.url).get('/keys/a').set(auth).expect(200);
      await request(t.url).get('/search?prefix=a').set(auth).expect(200);
      await request(t.url).get('/').set(auth).expect(200);
      const stream = await openSse(`${t.url}/watch`, auth);
      stream.close();
      const denied = await request(t.url).post('/set').set({ ...json, ...auth }).send('{"b":2}');
      expect(denied.status).toBe(403);
      expect(denied.body).toEqual({ status: 'error', statusCode: 403, message: 'This API key has the read role; this needs write' });
      expect((await request(t.url).delete('/keys/a').set(auth)).status).toBe(403);
      expect((await request(t.url).get('/subscriptions').set(auth)).status).toBe(403);
      expect((await request(t.url).get('/get/b').set(auth)).status).toBe(404); // nothing was written
    });

    it('gives write keys the mutations but not subscriptions; admin keys everything (also via X-API-Key)', async () => {
      await request(t.url).put('/keys/w').set({ ...json, 'X-API-Key': WRITE }).send('{"value":1}').expect(201);
      await request(t.url).delete('/keys/w').set('X-API-Key', WRITE).expect(204);
      expect((await request(t.url).post('/subscriptions').set({ ...json, 'X-API-Key': WRITE }).send('{"url":"http://127.0.0.1:9/x"}')).status).toBe(403);
      await request(t.url).post('/subscriptions').set({ ...json, 'X-API-Key': ADMIN }).send('{"url":"http://127.0.0.1:9/x"}').expect(201);
      await request(t.url).get('/subscriptions').set('Authorization', `bearer ${ADMIN}`).expect(200);
      await request(t.url).post('/set').set({ ...json, 'X-API-Key': ADMIN }).send('{"x":1}').expect(200);
    });

    it('keeps probes, metrics and the docs open', async () => {
      await request(t.url).get('/health/live').expect(200);
      await request(t.url).get('/health/ready').expect(200);
      await request(t.url).get('/metrics').expect(200);
      await request(t.url).get('/docs').expect(200);
      const doc = (await request(t.url).get('/docs-json').expect(200)).body;
      expect(doc.components.securitySchemes).toEqual({
        bearer: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
        'api-key': expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-Key' }),
      });
      expect(doc.paths['/keys/{key}'].get.security).toEqual(expect.arrayContaining([{ bearer: [] }, { 'api-key': [] }]));
      expect(doc.paths['/health/ready'].get.security).toBeUndefined();
    });
  });

  it('runs open without keys', async () => {
    t = await startTestApp();
    await request(t.url).post('/set').set(json).send('{"a":1}').expect(200);
    await request(t.url).get('/subscriptions').expect(200);
  });
});

describe('API keys in the process', () => {
  let server: ServerProcess | undefined;
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kv-auth-'));
  });
  afterEach(async () => {
    await killIfRunning(server);
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('warns at start-up when it runs open', async () => {
    server = await startServerProcess({ LOG_LEVEL: 'info' });
    expect(server.lines.join('\n')).toMatch(/No API keys configured .* every route is open/);
  });

  it('reads keys from API_KEYS_FILE and never logs a key', async () => {
    const file = join(dir, 'keys');
    writeFileSync(file, `write:${WRITE}\nadmin:${ADMIN}\n`);
    server = await startServerProcess({ API_KEYS_FILE: file, LOG_LEVEL: 'debug' });
    expect((await fetch(`${server.url}/get/a`, { headers: { Authorization: `Bearer ${WRITE}` } })).status).toBe(404);
    expect((await fetch(`${server.url}/get/a`, { headers: { 'X-API-Key': ADMIN } })).status).toBe(404);
    expect((await fetch(`${server.url}/get/a`, { headers: { Authorization: 'Bearer wrong-key-0123456789' } })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 200));
    const log = server.lines.join('\n');
    expect(log).toMatch(/2 API key\(s\) loaded/);
    expect(log).toMatch(/"statusCode":401/);
    for (const secret of [WRITE, ADMIN, 'wrong-key-0123456789']) expect(log).not.toContain(secret);
  });

  it.each([
    [{ API_KEYS: 'owner:abcdefghijklmnopqrstuvwxyz' }, 'API_KEYS: entry 1 must be role:key with role read, write, admin'],
    [{ API_KEYS: 'read:short' }, 'API_KEYS: the read key of entry 1 must be at least 16 characters, without spaces'],
    [{ API_KEYS_FILE: '/nonexistent/kv-keys' }, 'API_KEYS_FILE /nonexistent/kv-keys cannot be read: ENOENT'],
  ])('refuses to start with %j, in one line', async (env, message) => {
    const { code, stderr } = await runServerProcess(env);
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(message);
  });
});
