import request from 'supertest';
import { startTestApp, type TestApp } from './helpers/test-app';

describe('configured limits (e2e)', () => {
  let t: TestApp;
  const json = { 'Content-Type': 'application/json' };

  afterEach(() => t.close());

  it('accepts a value of exactly KV_MAX_VALUE_BYTES and answers 413 naming the limit beyond it', async () => {
    t = await startTestApp({ KV_MAX_VALUE_BYTES: '100' });
    const exact = 'x'.repeat(98); // JSON encoding adds the two quotes
    expect((await request(t.url).put('/keys/k').set(json).send(JSON.stringify({ value: exact }))).status).toBe(201);
    const over = await request(t.url).put('/keys/k').set(json).send(JSON.stringify({ value: `${exact}x` }));
    expect(over.status).toBe(413);
    expect(over.body).toMatchObject({ status: 'error', statusCode: 413 });
    expect(over.body.message).toContain('KV_MAX_VALUE_BYTES=100');
    expect((await request(t.url).get('/keys/k')).body.value).toBe(exact);
    const seed = await request(t.url).post('/set').set(json).send(JSON.stringify({ a: 1, b: 'y'.repeat(200) }));
    expect(seed.status).toBe(413);
    expect((await request(t.url).get('/get/a')).status).toBe(404);
  });

  it('accepts a 1 MiB value with the default limits', async () => {
    t = await startTestApp();
    const value = 'v'.repeat(1024 * 1024 - 2);
    const res = await request(t.url).post('/set').set(json).send(JSON.stringify({ key: 'big', value }));
    expect(res.status).toBe(200);
    expect((await request(t.url).get('/get/big')).body.value).toHaveLength(value.length);
    const over = await request(t.url).post('/set').set(json).send(JSON.stringify({ key: 'big2', value: `${value}v` }));
    expect(over.status).toBe(413);
    expect(over.body.message).toContain('KV_MAX_VALUE_BYTES=1048576');
  });

  it('answers 413 naming KV_MAX_BODY_BYTES for an oversized body', async () => {
    t = await startTestApp({ KV_MAX_VALUE_BYTES: '100', KV_MAX_BODY_BYTES: '200' });
    const res = await request(t.url).post('/set').set(json).send(JSON.stringify({ key: 'k', value: 'z'.repeat(500) }));
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ status: 'error', statusCode: 413, message: 'Request body exceeds KV_MAX_BODY_BYTES=200 bytes' });
  });

  it('counts key bytes as UTF-8 against KV_MAX_KEY_BYTES', async () => {
    t = await startTestApp({ KV_MAX_KEY_BYTES: '8' });
    expect((await request(t.url).post('/set').set(json).send(JSON.stringify({ key: '😀😀', value: 1 }))).status).toBe(200);
    const res = await request(t.url).post('/set').set(json).send(JSON.stringify({ key: '😀😀a', value: 1 }));
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('KV_MAX_KEY_BYTES=8');
    expect((await request(t.url).get(`/get/${encodeURIComponent('123456789')}`)).status).toBe(400);
  });

  it('caps pairs per batch at KV_MAX_BATCH_KEYS', async () => {
    t = await startTestApp({ KV_MAX_BATCH_KEYS: '3' });
    expect((await request(t.url).post('/set').set(json).send(JSON.stringify({ a: 1, b: 2, c: 3 }))).status).toBe(200);
    const res = await request(t.url).post('/set').set(json).send(JSON.stringify({ d: 1, e: 2, f: 3, g: 4 }));
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('KV_MAX_BATCH_KEYS=3');
  });

  it('caps ttl at KV_MAX_TTL_SECONDS', async () => {
    t = await startTestApp({ KV_MAX_TTL_SECONDS: '60' });
    expect((await request(t.url).post('/set?ttl=60').set(json).send('{"a":1}')).status).toBe(200);
    const res = await request(t.url).put('/keys/b').set(json).send(JSON.stringify({ value: 1, ttl: 61 }));
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('KV_MAX_TTL_SECONDS=60');
  });

  it('never answers 5xx for huge numbers in ttl or limit', async () => {
    t = await startTestApp();
    expect((await request(t.url).post('/set?ttl=99999999999999999999').set(json).send('{"a":1}')).status).toBe(400);
    expect((await request(t.url).put('/keys/a').set(json).send('{"value":1,"ttl":1e308}')).status).toBe(400);
    expect((await request(t.url).get('/?limit=99999999999999999999999')).status).toBe(400);
  });
});
