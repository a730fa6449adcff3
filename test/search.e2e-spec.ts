import request from 'supertest';
import { nextLinkOf } from './helpers/links';
import { DRIVERS, useDriver } from './helpers/drivers';
import { startTestApp, type TestApp } from './helpers/test-app';

describe.each(DRIVERS)('search (e2e, %s driver)', (driverName) => {
  const driver = useDriver(driverName);
  let t: TestApp;
  const json = { 'Content-Type': 'application/json' };

  beforeEach(async () => {
    t = await startTestApp(driver.env());
  });
  afterEach(() => t.close());

  const set = (pairs: Record<string, unknown>, query = '') =>
    request(t.url).post(`/set${query}`).set(json).send(JSON.stringify(pairs)).expect(200);
  /** Follows Link headers from `path`, returning every key seen. */
  async function follow(path: string, between?: (page: number) => Promise<void>): Promise<string[]> {
    const seen: string[] = [];
    let next: string | null = path;
    for (let page = 0; next; page++) {
      const res: request.Response = await request(t.url).get(next);
      expect(res.status).toBe(200);
      seen.push(...(res.body as string[]));
      next = nextLinkOf(res);
      if (between) await between(page);
    }
    return seen;
  }

  describe('GET /search', () => {
    beforeEach(() => set({ 'abc-1': 1, 'abc-2': 2, 'xyz-1': 'three', 'xyz-2': 4 }));

    it('answers the seeds\' examples exactly', async () => {
      const byPrefix = await request(t.url).get('/search?prefix=abc');
      expect(byPrefix.status).toBe(200);
      expect(byPrefix.headers['content-type']).toMatch(/^application\/json/);
      expect(byPrefix.body).toEqual(['abc-1', 'abc-2']);
      expect((await request(t.url).get('/search?suffix=-1')).body).toEqual(['abc-1', 'xyz-1']);
    });

    it('matches both filters together, all keys with neither, and treats an empty filter as none', async () => {
      expect((await request(t.url).get('/search?prefix=xyz&suffix=-2')).body).toEqual(['xyz-2']);
      expect((await request(t.url).get('/search?prefix=abc&suffix=-3')).body).toEqual([]);
      const all = ['abc-1', 'abc-2', 'xyz-1', 'xyz-2'];
      expect((await request(t.url).get('/search')).body).toEqual(all);
      expect((await request(t.url).get('/search?prefix=&suffix=')).body).toEqual(all);
      expect((await request(t.url).get('/search?prefix=&suffix=-1')).body).toEqual(['abc-1', 'xyz-1']);
    });

    it('matches a filter equal to a whole key', async () => {
      expect((await request(t.url).get('/search?prefix=abc-1')).body).toEqual(['abc-1']);
      expect((await request(t.url).get('/search?suffix=xyz-2')).body).toEqual(['xyz-2']);
    });

    it('orders by code point and matches Unicode filters by code point', async () => {
      await set({ 'é-1': 1, 'e\u0301-1': 2, '😀-1': 3, '\uffff-1': 4, 'x😀': 5, 'a😀': 6 });
      expect((await request(t.url).get(`/search?suffix=${encodeURIComponent('-1')}`)).body).toEqual([
        'abc-1',
        'e\u0301-1',
        'xyz-1',
        'é-1',
        '\uffff-1',
        '😀-1',
      ]);
      expect((await request(t.url).get(`/search?suffix=${encodeURIComponent('😀')}`)).body).toEqual(['a😀', 'x😀']);
      expect((await request(t.url).get(`/search?suffix=${encodeURIComponent('\u0301-1')}`)).body).toEqual(['e\u0301-1']);
    });

    it('never returns expired keys', async () => {
      await set({ 'abc-3': 3 }, '?ttl=1');
      expect((await request(t.url).get('/search?prefix=abc')).body).toEqual(['abc-1', 'abc-2', 'abc-3']);
      await new Promise((r) => setTimeout(r, 1100));
      expect((await request(t.url).get('/search?prefix=abc')).body).toEqual(['abc-1', 'abc-2']);
    });

    it.each(['limit=0', 'limit=10001', 'limit=abc', 'limit=', 'prefix=a&prefix=b', 'suffix=a&suffix=b', 'sufix=a'])(
      'rejects %s with 400 in the JSON error shape',
      async (query) => {
        const res = await request(t.url).get(`/search?${query}`);
        expect(res.status).toBe(400);
        expect(res.body).toMatchObject({ status: 'error', statusCode: 400 });
      },
    );
  });

  describe('pagination', () => {
    const keys = Array.from({ length: 57 }, (_, i) => `item-${String(i).padStart(3, '0')}`);
    beforeEach(() => set(Object.fromEntries(keys.map((k) => [k, 1]))));

    it('returns every match exactly once by following Link, keeping the filters', async () => {
      const first = await request(t.url).get('/search?prefix=item-&limit=10');
      expect(nextLinkOf(first)).toBe('/search?prefix=item-&limit=10&after=item-009');
      expect(await follow('/search?prefix=item-&limit=10')).toEqual(keys);
      expect(await follow('/search?suffix=7&limit=2')).toEqual(keys.filter((k) => k.endsWith('7')));
      expect(await follow('/search?prefix=item-0&suffix=5&limit=1')).toEqual(['item-005', 'item-015', 'item-025', 'item-035', 'item-045', 'item-055']);
    });

    it('sends no Link on the last page', async () => {
      const res = await request(t.url).get('/search?prefix=item-&limit=57');
      expect(res.body).toHaveLength(57);
      expect(res.headers.link).toBeUndefined();
    });

    it('still returns every original match exactly once when keys are written and deleted between pages', async () => {
      const seen = await follow('/search?prefix=item-&limit=7', async (page) => {
        // before the cursor, after it, and a new key inside the range
        await set({ [`item-000-${page}`]: 1, [`item-999-${page}`]: 1, [`zzz-${page}`]: 1 });
      });
      const originals = seen.filter((k) => keys.includes(k));
      expect(originals).toEqual(keys);
      expect(new Set(seen).size).toBe(seen.length);
    });
  });

  describe('GET /keys with filters', () => {
    it('filters records by prefix and suffix with a next cursor in the body', async () => {
      await set({ 'abc-1': 1, 'abc-2': 2, 'xyz-1': 'three', 'xyz-2': 4 });
      const res = await request(t.url).get('/keys?suffix=-1&limit=1');
      expect(res.status).toBe(200);
      expect(res.body.items).toEqual([expect.objectContaining({ key: 'abc-1', value: 1 })]);
      expect(res.body.next).toBe('abc-1');
      const rest = await request(t.url).get(`/keys?suffix=-1&limit=1&after=${res.body.next}`);
      expect(rest.body).toEqual({ items: [expect.objectContaining({ key: 'xyz-1', value: 'three' })], next: null });
      expect((await request(t.url).get('/keys?prefix=xyz&suffix=-2')).body.items.map((r: { key: string }) => r.key)).toEqual(['xyz-2']);
    });
  });
});
