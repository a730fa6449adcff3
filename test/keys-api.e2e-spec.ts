import request from 'supertest';
import { DRIVERS, useDriver } from './helpers/drivers';
import { startTestApp, type TestApp } from './helpers/test-app';

describe.each(DRIVERS)('REST /keys API (e2e, %s driver)', (driverName) => {
  const driver = useDriver(driverName);
  let t: TestApp;
  const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

  beforeEach(async () => {
    t = await startTestApp(driver.env());
  });
  afterEach(() => t.close());

  /** The ETag of `revision` in the store's keyspace. */
  const tag = async (revision: number): Promise<string> => `"${(await request(t.url).get('/health/ready')).body.details.store.keyspace}:${revision}"`;

  const put = (key: string, body: unknown, headers: Record<string, string> = {}) =>
    request(t.url)
      .put(`/keys/${encodeURIComponent(key)}`)
      .set({ 'Content-Type': 'application/json', ...headers })
      .send(JSON.stringify(body));

  describe('PUT /keys/:key', () => {
    it('creates with 201, Location and ETag, then replaces with 200', async () => {
      const created = await put('user:42', { value: { name: 'ashish' } });
      expect(created.status).toBe(201);
      expect(created.headers.location).toBe('/keys/user%3A42');
      expect(created.headers.etag).toBe(`"${created.body.keyspace}:${created.body.revision}"`);
      expect(created.body).toEqual({
        key: 'user:42',
        value: { name: 'ashish' },
        revision: 1,
        keyspace: expect.stringMatching(/^[0-9a-f]{12}$/),
        createdAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
        expiresAt: null,
      });
      const replaced = await put('user:42', { value: 'v2' });
      expect(replaced.status).toBe(200);
      expect(replaced.headers.location).toBeUndefined();
      expect(replaced.body).toMatchObject({ value: 'v2', revision: 2, createdAt: created.body.createdAt });
      expect(replaced.headers.etag).toBe(await tag(2));
    });

    it('stores null as a value', async () => {
      expect((await put('n', { value: null })).status).toBe(201);
      expect((await request(t.url).get('/keys/n')).body.value).toBeNull();
    });

    it('sets expiresAt from ttl, and a later write without ttl clears it', async () => {
      const res = await put('t', { value: 1, ttl: 3600 });
      expect(Date.parse(res.body.expiresAt) - Date.parse(res.body.updatedAt)).toBe(3_600_000);
      expect((await put('t', { value: 2 })).body.expiresAt).toBeNull();
    });

    it.each([
      ['a missing value', { ttl: 5 }, /value is required/],
      ['an unknown field', { value: 1, extra: true }, /property extra should not exist/],
      ['a ttl of 0', { value: 1, ttl: 0 }, /ttl/],
      ['a string ttl', { value: 1, ttl: '60' }, /ttl/],
      ['a fractional ttl', { value: 1, ttl: 1.5 }, /ttl/],
    ])('rejects %s with 400 and details', async (_, body, pattern) => {
      const res = await put('k', body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ status: 'error', statusCode: 400 });
      expect(res.body.message).toMatch(pattern);
      expect(Array.isArray(res.body.details)).toBe(true);
      expect((await request(t.url).get('/keys/k')).status).toBe(404);
    });

    it.each([
      ['an array', '[1]'],
      ['a scalar', '7'],
      ['null', 'null'],
    ])('rejects %s as the body with 400', async (_, body) => {
      const res = await request(t.url).put('/keys/k').set('Content-Type', 'application/json').send(body);
      expect(res.status).toBe(400);
      expect(res.body.status).toBe('error');
    });

    it('rejects a non-JSON body with 415', async () => {
      const res = await request(t.url).put('/keys/k').set('Content-Type', 'text/plain').send('hello');
      expect(res.status).toBe(415);
      expect(res.body).toMatchObject({ status: 'error', statusCode: 415 });
    });

    it('If-Match compare-and-set: succeeds at the current revision, 412 otherwise', async () => {
      const first = await put('cas', { value: 1 });
      const stale = first.headers.etag;
      expect((await put('cas', { value: 2 }, { 'If-Match': stale })).status).toBe(200);
      const conflict = await put('cas', { value: 3 }, { 'If-Match': stale });
      expect(conflict.status).toBe(412);
      expect(conflict.body).toMatchObject({ status: 'error', statusCode: 412 });
      expect((await request(t.url).get('/keys/cas')).body.value).toBe(2);
    });

    it('If-Match accepts a list of tags and *, and fails with 412 on an absent key', async () => {
      await put('k', { value: 1 });
      expect((await put('k', { value: 2 }, { 'If-Match': `${await tag(99)}, ${await tag(1)}` })).status).toBe(200);
      expect((await put('k', { value: 3 }, { 'If-Match': '*' })).status).toBe(200);
      expect((await put('absent', { value: 1 }, { 'If-Match': '*' })).status).toBe(412);
      expect((await put('absent', { value: 1 }, { 'If-Match': await tag(1) })).status).toBe(412);
      expect((await request(t.url).get('/keys/absent')).status).toBe(404);
    });

    it('If-Match compares tags exactly: a bare revision, another spelling or another keyspace never matches', async () => {
      const current = (await put('k', { value: 1 })).headers.etag as string;
      const [keyspace, revision] = current.slice(1, -1).split(':');
      for (const stale of [`"${revision}"`, `"${keyspace}:0${revision}"`, `"${keyspace.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'))}:${revision}"`, `W/${current}`]) {
        const res = await put('k', { value: 'stale' }, { 'If-Match': stale });
        expect([400, 412]).toContain(res.status);
      }
      expect((await request(t.url).get('/keys/k')).body.value).toBe(1);
      expect((await put('k', { value: 2 }, { 'If-Match': current })).status).toBe(200);
    });

    it('If-None-Match: * creates only', async () => {
      expect((await put('once', { value: 1 }, { 'If-None-Match': '*' })).status).toBe(201);
      const again = await put('once', { value: 2 }, { 'If-None-Match': '*' });
      expect(again.status).toBe(412);
      expect((await request(t.url).get('/keys/once')).body.value).toBe(1);
    });

    it('rejects malformed conditional headers with 400', async () => {
      expect((await put('k', { value: 1 }, { 'If-Match': 'abc' })).status).toBe(400);
      expect((await put('k', { value: 1 }, { 'If-None-Match': '"1"' })).status).toBe(400);
      expect((await put('k', { value: 1 }, { 'If-Match': '*', 'If-None-Match': '*' })).status).toBe(400);
    });
  });

  describe('GET /keys/:key', () => {
    it('returns the record with a strong ETag of its revision', async () => {
      await put('a', { value: [1, 2] });
      const res = await request(t.url).get('/keys/a');
      expect(res.status).toBe(200);
      expect(res.headers.etag).toBe(await tag(1));
      expect(res.body).toMatchObject({ key: 'a', value: [1, 2], revision: 1, expiresAt: null });
    });

    it('answers 304 to If-None-Match with the current ETag, 200 after a change', async () => {
      await put('a', { value: 1 });
      const notModified = await request(t.url).get('/keys/a').set('If-None-Match', await tag(1));
      expect(notModified.status).toBe(304);
      expect(notModified.text).toBe('');
      await put('a', { value: 2 });
      expect((await request(t.url).get('/keys/a').set('If-None-Match', await tag(1))).status).toBe(200);
    });

    it('answers 404 in the error shape', async () => {
      const res = await request(t.url).get('/keys/none');
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ status: 'error', statusCode: 404, message: 'Key not found' });
    });
  });

  describe('DELETE /keys/:key', () => {
    it('deletes with 204, then 404', async () => {
      await put('d', { value: 1 });
      const res = await request(t.url).delete('/keys/d');
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      expect((await request(t.url).get('/keys/d')).status).toBe(404);
      const again = await request(t.url).delete('/keys/d');
      expect(again.status).toBe(404);
      expect(again.body).toMatchObject({ status: 'error', message: 'Key not found' });
    });

    it('honours If-Match', async () => {
      await put('d', { value: 1 });
      await put('d', { value: 2 });
      expect((await request(t.url).delete('/keys/d').set('If-Match', await tag(1))).status).toBe(412);
      expect((await request(t.url).get('/keys/d')).status).toBe(200);
      expect((await request(t.url).delete('/keys/d').set('If-Match', await tag(2))).status).toBe(204);
    });

    it('bumps the store revision', async () => {
      await put('d', { value: 1 });
      await request(t.url).delete('/keys/d');
      expect((await put('e', { value: 1 })).body.revision).toBe(3);
    });
  });

  describe('GET /keys', () => {
    it('lists records in key order with a next cursor', async () => {
      for (const key of ['c', 'a', 'b']) await put(key, { value: key });
      const first = await request(t.url).get('/keys?limit=2');
      expect(first.status).toBe(200);
      expect(first.body.items.map((r: { key: string }) => r.key)).toEqual(['a', 'b']);
      expect(first.body.items[0]).toEqual({
        key: 'a',
        value: 'a',
        revision: 2,
        keyspace: expect.stringMatching(/^[0-9a-f]{12}$/),
        createdAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
        expiresAt: null,
      });
      expect(first.body.next).toBe('b');
      const second = await request(t.url).get(`/keys?limit=2&after=${first.body.next}`);
      expect(second.body).toEqual({ items: [expect.objectContaining({ key: 'c' })], next: null });
    });

    it('answers an empty page for an empty store', async () => {
      expect((await request(t.url).get('/keys')).body).toEqual({ items: [], next: null });
    });

    it('rejects invalid limits and unknown parameters with 400', async () => {
      expect((await request(t.url).get('/keys?limit=0')).status).toBe(400);
      expect((await request(t.url).get('/keys?limit=99999')).status).toBe(400);
      const typo = await request(t.url).get('/keys?limt=5');
      expect(typo.status).toBe(400);
      expect(typo.body.message).toMatch(/limt/);
    });
  });
});
