import request from 'supertest';
import { nextLinkOf } from './helpers/links';
import { DRIVERS, useDriver } from './helpers/drivers';
import { startTestApp, type TestApp } from './helpers/test-app';

describe.each(DRIVERS)('seed-compatible routes (e2e, %s driver)', (driverName) => {
  const driver = useDriver(driverName);
  let t: TestApp;
  const json = { 'Content-Type': 'application/json' };

  beforeEach(async () => {
    t = await startTestApp(driver.env());
  });
  afterEach(() => t.close());

  const set = (body: unknown, query = '') => request(t.url).post(`/set${query}`).set(json).send(JSON.stringify(body));

  describe('POST /set', () => {
    it('sets one pair with the seed envelope', async () => {
      const res = await set({ key: 'key_1', value: 'value_1' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'success', message: 'key-value pair is set successfully' });
      const got = await request(t.url).get('/get/key_1');
      expect(got.status).toBe(200);
      expect(got.body).toEqual({ key: 'key_1', value: 'value_1' });
    });

    it('sets a map of pairs and adds count', async () => {
      const res = await set({ 'abc-1': 1, 'abc-2': 2, 'xyz-1': 'three', 'xyz-2': 4 });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'success', message: 'key-value pairs are set successfully', count: 4 });
      expect((await request(t.url).get('/get/xyz-1')).body).toEqual({ key: 'xyz-1', value: 'three' });
      expect((await request(t.url).get('/get/abc-2')).body).toEqual({ key: 'abc-2', value: 2 });
    });

    it('treats an object without `key` and `value` as a map, and refuses one that names them but is no pair', async () => {
      expect((await set({ a: 5, b: 'v' })).body.count).toBe(2);
      expect((await request(t.url).get('/get/b')).body).toEqual({ key: 'b', value: 'v' });
      for (const body of [{ key: 5, value: 'v' }, { key: 'k', value: 1, extra: true }, { key: 'only-key' }]) {
        const res = await set(body);
        expect(res.status).toBe(400);
        expect(res.body.message).toMatch(/^A pair/);
      }
      for (const key of ['key', 'k', 'extra', 'only-key']) await request(t.url).get(`/get/${key}`).expect(404);
    });

    it.each([
      ['a string', 'value_1'],
      ['a number', 42.5],
      ['a boolean', false],
      ['null', null],
      ['an object', { nested: { deep: [1, { x: 'y' }] } }],
      ['an array', [1, 'two', null]],
    ])('stores %s as the value, exactly', async (_, value) => {
      expect((await set({ key: 'v', value })).status).toBe(200);
      expect((await request(t.url).get('/get/v')).body).toEqual({ key: 'v', value });
    });

    it.each([
      ['an empty object', '{}'],
      ['an array', '[{"key":"a","value":1}]'],
      ['a string', '"text"'],
      ['a number', '5'],
      ['null', 'null'],
    ])('rejects %s as the body with 400', async (_, body) => {
      const res = await request(t.url).post('/set').set(json).send(body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ status: 'error', statusCode: 400 });
      expect(typeof res.body.message).toBe('string');
    });

    it('rejects a missing body with 400', async () => {
      const res = await request(t.url).post('/set').set(json);
      expect(res.status).toBe(400);
      expect(res.body.status).toBe('error');
    });

    it('reads an empty JSON body as an empty object, and an empty body of another type as none (400 either way, not 415)', async () => {
      const empty = await request(t.url).post('/set').set(json).set('Content-Length', '0');
      expect(empty.status).toBe(400);
      expect(empty.body.message).toBe('Body must contain at least one key-value pair');
      const plain = await request(t.url).post('/set').set('Content-Type', 'text/plain').set('Content-Length', '0');
      expect(plain.status).toBe(400);
      expect(plain.body.message).toMatch(/^Body must be a JSON object/);
    });

    it('rejects malformed JSON with 400 in the error shape', async () => {
      const res = await request(t.url).post('/set').set(json).send('{"key": "a", ');
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ status: 'error', statusCode: 400 });
      expect(res.body.message).toMatch(/^Malformed JSON body/);
    });

    it('rejects a body that is not JSON with 415', async () => {
      const res = await request(t.url).post('/set').set('Content-Type', 'text/plain').send('key=value');
      expect(res.status).toBe(415);
      expect(res.body).toMatchObject({ status: 'error', statusCode: 415 });
      const form = await request(t.url).post('/set').type('form').send({ key: 'a', value: 'b' });
      expect(form.status).toBe(415);
      expect((await request(t.url).get('/get/a')).status).toBe(404);
    });

    it('accepts application/*+json and a charset parameter', async () => {
      expect((await request(t.url).post('/set').set('Content-Type', 'application/merge-patch+json').send('{"p":1}')).status).toBe(200);
      expect((await request(t.url).post('/set').set('Content-Type', 'application/json; charset=utf-8').send('{"q":1}')).status).toBe(200);
    });

    it('applies ttl to every pair', async () => {
      expect((await set({ a: 1, b: 2 }, '?ttl=30')).status).toBe(200);
      const rec = await request(t.url).get('/keys/a');
      const ttlMs = Date.parse(rec.body.expiresAt) - Date.parse(rec.body.updatedAt);
      expect(ttlMs).toBe(30_000);
      expect((await request(t.url).get('/keys/b')).body.expiresAt).toBe(rec.body.expiresAt);
    });

    it('expires keys set with a ttl', async () => {
      await set({ key: 'short', value: 1 }, '?ttl=1');
      expect((await request(t.url).get('/get/short')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1100));
      const res = await request(t.url).get('/get/short');
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ status: 'error', message: 'Key not found' });
    });

    it.each(['0', '-5', '1.5', 'abc', '10s'])('rejects ttl=%s with 400', async (ttl) => {
      const res = await set({ key: 'k', value: 1 }, `?ttl=${ttl}`);
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/ttl/);
      expect((await request(t.url).get('/get/k')).status).toBe(404);
    });

    it('nx sets only absent keys: 409 and nothing written if any exists', async () => {
      await set({ a: 1 });
      const res = await set({ a: 2, fresh: 3 }, '?nx=true');
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ status: 'error', statusCode: 409, details: ['a'] });
      expect((await request(t.url).get('/get/a')).body.value).toBe(1);
      expect((await request(t.url).get('/get/fresh')).status).toBe(404);
      expect((await set({ fresh: 3 }, '?nx=true')).status).toBe(200);
    });

    it('xx sets only existing keys: 404 and nothing written if any is absent', async () => {
      await set({ a: 1 });
      const res = await set({ a: 2, ghost: 3 }, '?xx=true');
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ status: 'error', message: 'Key not found' });
      expect((await request(t.url).get('/get/a')).body.value).toBe(1);
      expect((await set({ key: 'a', value: 2 }, '?xx=true')).status).toBe(200);
      expect((await request(t.url).get('/get/a')).body.value).toBe(2);
    });

    it('rejects nx and xx together, and non-boolean flags', async () => {
      expect((await set({ a: 1 }, '?nx=true&xx=true')).status).toBe(400);
      expect((await set({ a: 1 }, '?nx=yes')).status).toBe(400);
      expect((await set({ a: 1 }, '?nx=true&nx=false')).status).toBe(400);
    });

    it('applies a multi-pair set atomically: one invalid key writes nothing', async () => {
      const res = await set({ good: 1, 'bad\u0001key': 2 });
      expect(res.status).toBe(400);
      expect((await request(t.url).get('/get/good')).status).toBe(404);
    });
  });

  describe('GET /get/:key', () => {
    it('answers 404 in the seed error shape for an unknown key', async () => {
      const res = await request(t.url).get('/get/nope');
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toEqual({ status: 'error', statusCode: 404, message: 'Key not found' });
    });

    it.each([
      ['a slash', 'a/b'],
      ['spaces', 'hello world'],
      ['a percent sign', '100%'],
      ['a question mark', 'why?'],
      ['a hash', '#tag'],
      ['emoji', 'smile 😀 🇯🇵'],
      ['combining marks', 'e\u0301te\u0301'],
      ['dots', '..'],
      ['a plus', 'a+b'],
      ['__proto__', '__proto__'],
    ])('round-trips a key with %s through /get and /keys byte for byte', async (_, key) => {
      expect((await set({ key, value: key })).status).toBe(200);
      const path = encodeURIComponent(key);
      const got = await request(t.url).get(`/get/${path}`);
      expect(got.status).toBe(200);
      expect(got.body).toEqual({ key, value: key });
      const rec = await request(t.url).get(`/keys/${path}`);
      expect(rec.status).toBe(200);
      expect(Buffer.from(rec.body.key).equals(Buffer.from(key))).toBe(true);
    });

    it('answers 400 for a path with invalid percent-encoding', async () => {
      const res = await request(t.url).get('/get/%E0%A4%A');
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ status: 'error', statusCode: 400 });
    });

    it('answers 400 for a key with control characters or a lone surrogate', async () => {
      expect((await request(t.url).get('/get/a%0Ab')).status).toBe(400);
      expect((await request(t.url).get('/get/%7F')).status).toBe(400);
      expect((await set({ ['x\ud800']: 1 })).status).toBe(400);
    });
  });

  describe('GET /', () => {
    it('returns every pair as one object in code-point order', async () => {
      await set({ b: 1, '10': 'ten', '2': 'two', a: null, '😀': 'astral', '\uff5e': 'bmp' });
      const res = await request(t.url).get('/');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers.link).toBeUndefined();
      // Raw text: a JS object would reorder integer-like keys, so check the bytes on the wire.
      expect(res.text).toBe('{"10":"ten","2":"two","a":null,"b":1,"\uff5e":"bmp","😀":"astral"}');
    });

    it('returns {} for an empty store', async () => {
      const res = await request(t.url).get('/');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({});
    });

    it('keeps __proto__ as an ordinary key', async () => {
      await set({ ['__proto__']: { admin: true }, plain: 1 });
      const res = await request(t.url).get('/');
      expect(res.text).toBe('{"__proto__":{"admin":true},"plain":1}');
    });

    it('paginates with limit and after, advertising the next page in Link', async () => {
      const keys = Array.from({ length: 25 }, (_, i) => `k${String(i).padStart(2, '0')}`);
      await set(Object.fromEntries(keys.map((k) => [k, k])));
      const seen: string[] = [];
      let path: string | null = '/?limit=10';
      let pages = 0;
      while (path) {
        const res: request.Response = await request(t.url).get(path);
        expect(res.status).toBe(200);
        seen.push(...Object.keys(res.body));
        pages++;
        path = nextLinkOf(res);
        if (path) expect(path).toContain('limit=10');
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(keys);
    });

    it('percent-encodes the cursor in Link', async () => {
      await set({ 'a b&c': 1, z: 2 });
      const res = await request(t.url).get('/?limit=1');
      const next = nextLinkOf(res)!;
      expect(next).not.toContain(' ');
      expect(Object.keys((await request(t.url).get(next)).body)).toEqual(['z']);
    });

    it.each(['0', '10001', 'abc', '-1', '2.5'])('rejects limit=%s with 400', async (limit) => {
      const res = await request(t.url).get(`/?limit=${limit}`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ status: 'error', statusCode: 400 });
      expect(res.body.details).toEqual(expect.arrayContaining([expect.stringMatching(/limit/)]));
    });

    it('accepts the maximum limit', async () => {
      expect((await request(t.url).get('/?limit=10000')).status).toBe(200);
    });
  });
});
