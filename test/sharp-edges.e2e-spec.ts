import net from 'node:net';
import request from 'supertest';
import { raw } from './helpers/raw-http';
import { killIfRunning, type ServerProcess, startServerProcess } from './helpers/server-process';
import { startTestApp, type TestApp } from './helpers/test-app';

/**
 * Mistakes a client can make, each with a clear answer: never read as something else (a typo stored as keys, a
 * precondition ignored), never a bare or HTML answer. Real HTTP against the real application.
 */
const json = { 'Content-Type': 'application/json' };


describe('sharp edges (e2e)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const set = (body: string, query = '') => request(t.url).post(`/set${query}`).set(json).send(body);
  const keys = async () => Object.keys((await request(t.url).get('/?limit=10000')).body as Record<string, unknown>);

  describe('POST /set never turns a typo into keys', () => {
    it.each([
      ['{"key":"a"}', 'A pair needs `value`'],
      ['{"value":1}', 'A pair needs `key`'],
      ['{"key":7,"value":1}', "A pair's `key` must be a string"],
      ['{"key":"k2","value":"v","ttl":60}', '`ttl` goes in the query string (/set?ttl=...)'],
      ['{"key":"k2","value":"v","nx":true,"xx":false}', '`nx` and `xx` go in the query string (/set?nx=...&xx=...)'],
      ['{"key":"k2","value":"v","other":1}', 'A pair has exactly `key` and `value`, not "other"'],
      ['{"value":1,"other":2}', 'A pair needs `key`'],
    ])('%s is a 400 that says what is wrong, and writes nothing', async (body, message) => {
      const before = await keys();
      const res = await set(body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ status: 'error', statusCode: 400 });
      expect(res.body.message).toContain(message);
      expect(await keys()).toEqual(before);
    });

    it('still takes exactly one pair, and maps whose keys are not named key or value', async () => {
      expect((await set('{"key":"k3","value":{"ttl":60}}')).body).toEqual({ status: 'success', message: 'key-value pair is set successfully' });
      expect((await set('{"ttl":1,"nx":2}')).body).toMatchObject({ count: 2 });
      expect((await request(t.url).get('/get/k3')).body).toEqual({ key: 'k3', value: { ttl: 60 } });
      expect((await request(t.url).get('/get/ttl')).body).toEqual({ key: 'ttl', value: 1 });
      // Keys literally named "key" are written with PUT /keys/key, as the error message says.
      await request(t.url).put('/keys/key').set(json).send('{"value":"a key named key"}').expect(201);
      expect((await request(t.url).get('/get/key')).body).toEqual({ key: 'key', value: 'a key named key' });
    });
  });

  describe('wrong method, empty key, one message per mistake', () => {
    it.each([
      ['put', '/set', 'POST'],
      ['delete', '/keys', 'GET, HEAD'],
      ['post', '/keys/a', 'DELETE, GET, HEAD, PUT'],
      ['put', '/watch', 'GET, HEAD'],
      ['patch', '/subscriptions', 'GET, HEAD, POST'],
    ] as const)('%s %s is a 405 with Allow: %s', async (method, path, allow) => {
      const res = await request(t.url)[method](path);
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe(allow);
      expect(res.body).toMatchObject({ status: 'error', statusCode: 405, message: `${method.toUpperCase()} is not allowed on ${path}: it takes ${allow}` });
    });

    it('a path no route serves is still a 404', async () => {
      const res = await request(t.url).put('/no/such/route');
      expect(res.status).toBe(404);
      expect(res.headers.allow).toBeUndefined();
    });

    it.each([
      ['get', '/get/'],
      ['put', '/keys/'],
      ['delete', '/keys/'],
    ] as const)('%s %s is a 400: the key must not be empty', async (method, path) => {
      const res = await request(t.url)[method](path).set(json).send(method === 'put' ? '{"value":1}' : undefined);
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/^Key must not be empty/);
    });

    it.each([
      ['/?limit=abc', 'limit must be an integer from 1 to 10000'],
      ['/search?limit=0', 'limit must be an integer from 1 to 10000'],
      ['/keys?limit=10001', 'limit must be an integer from 1 to 10000'],
    ])('%s has one message', async (path, message) => {
      const res = await request(t.url).get(path);
      expect(res.status).toBe(400);
      expect(res.body.details).toEqual([message]);
    });

    it('ttl has one message, in the query and in a PUT body', async () => {
      expect((await set('{"a":1}', '?ttl=abc')).body.details).toEqual(['ttl must be an integer of at least 1']);
      const put = await request(t.url).put('/keys/a').set(json).send('{"value":1,"ttl":0}');
      expect(put.body.details).toEqual(['ttl must be an integer of at least 1']);
    });

    it.each(['abc', '9007199254740993', '-1'])('since=%s is a 400, not rounded or ignored', async (since) => {
      const res = await request(t.url).get(`/watch?since=${since}`);
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/^since must be an event id/);
    });
  });

  describe('conditional requests are strict or refused', () => {
    it('If-Match compares entity tags exactly', async () => {
      const created = await request(t.url).put('/keys/c1').set(json).send('{"value":1}').expect(201);
      const etag = created.headers.etag as string;
      const [ks, rev] = etag.slice(1, -1).split(':');
      const padded = `"${ks}:0${rev}"`;
      await request(t.url).put('/keys/c1').set(json).set('If-Match', padded).send('{"value":2}').expect(412);
      await request(t.url).put('/keys/c1').set(json).set('If-Match', etag).send('{"value":2}').expect(200);
    });

    it('GET /keys/{key} evaluates If-Match (412) and If-None-Match (304)', async () => {
      const res = await request(t.url).put('/keys/c2').set(json).send('{"value":1}').expect(201);
      const etag = res.headers.etag as string;
      await request(t.url).get('/keys/c2').set('If-None-Match', etag).expect(304);
      await request(t.url).get('/keys/c2').set('If-Match', etag).expect(200);
      const stale = await request(t.url).get('/keys/c2').set('If-Match', '"000000000000:1"');
      expect(stale.status).toBe(412);
    });

    it.each([
      ['post', '/set', 'If-Match', '"x:1"'],
      ['post', '/set', 'If-None-Match', '*'],
      ['get', '/get/c2', 'If-None-Match', '*'],
      ['get', '/', 'If-Match', '"x:1"'],
      ['get', '/search?prefix=c', 'If-None-Match', '"x:1"'],
      ['post', '/subscriptions', 'If-Match', '*'],
      ['put', '/keys/c2', 'If-Unmodified-Since', 'Wed, 21 Oct 2015 07:28:00 GMT'],
    ] as const)('%s %s with %s is a 400 and writes nothing', async (method, path, header, value) => {
      const before = await keys();
      const res = await request(t.url)[method](path).set(json).set(header, value).send(method === 'get' ? undefined : path === '/keys/c2' ? '{"value":9}' : '{"zz":1}');
      expect(res.status).toBe(400);
      expect(res.body.message).toContain(`${header} is not supported`);
      expect(await keys()).toEqual(before);
      expect((await request(t.url).get('/get/c2')).body.value).toBe(1);
    });
  });

  describe('bodies and fields', () => {
    it('a PUT body with __proto__ is the same 400 as any unknown field', async () => {
      for (const body of ['{"value":1,"__proto__":{"x":1}}', '{"value":1,"extra":true}']) {
        const res = await request(t.url).put('/keys/p1').set(json).send(body);
        expect(res.status).toBe(400);
        expect(res.body.details).toEqual([`property ${body.includes('__proto__') ? '__proto__' : 'extra'} should not exist`]);
      }
      await request(t.url).get('/keys/p1').expect(404);
    });

    it('a JSON body that is not valid UTF-8 is a 400, never stored with U+FFFD in place of its bytes', async () => {
      // fetch sends the bytes as they are (supertest would serialise a Buffer as JSON).
      const post = (body: Buffer) => fetch(`${t.url}/set`, { method: 'POST', headers: json, body });
      const res = await post(Buffer.concat([Buffer.from('{"utf8":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { message: string }).message).toBe('JSON body is not valid UTF-8');
      await request(t.url).get('/get/utf8').expect(404);
      const fine = await post(Buffer.from('{"utf8":"héllo ✓"}'));
      expect(fine.status).toBe(200);
      expect((await request(t.url).get('/get/utf8')).body.value).toBe('héllo ✓');
    });

    it.each(['utf-16le', 'utf-7', 'latin1'])('a JSON body declared as charset=%s is a 415: JSON is UTF-8', async (charset) => {
      const res = await request(t.url).post('/set').set('Content-Type', `application/json; charset=${charset}`).send('{"cs":1}');
      expect(res.status).toBe(415);
      expect(res.body.message).toBe(`A JSON body must be UTF-8 (got charset=${charset})`);
      await request(t.url).post('/set').set('Content-Type', 'application/json; charset=UTF-8').send('{"cs":1}').expect(200);
    });

    it.each([
      ['/watch?key=a%00b', 'key'],
      ['/search?suffix=%01', 'suffix'],
      ['/keys?prefix=%C2%85', 'prefix'],
    ])('a filter no key could match (%s) is a 400', async (path, name) => {
      const res = await request(t.url).get(path);
      expect(res.status).toBe(400);
      expect(res.body.details).toEqual([`${name} must be valid Unicode without control characters (as every key is), or it could never match`]);
    });

    it.each([
      ['key', 'a\\u0000b'],
      ['prefix', '\\ud800'],
    ])('a subscription filter no key could match (%s %s) is a 400', async (name, text) => {
      const res = await request(t.url).post('/subscriptions').set(json).send(`{"url":"https://hooks.example.com/x","${name}":"${text}"}`);
      expect(res.status).toBe(400);
      expect(res.body.details).toEqual([`${name} must be valid Unicode without control characters (as every key is), or it could never match`]);
    });

    it.each(['/search?prefix=%ED%A0%80', '/watch?prefix=%FF', '/?after=100%', '/keys?prefix=%zz'])('a query string that is not percent-encoded UTF-8 (%s) is a 400', async (path) => {
      const res = await request(t.url).get(path);
      expect(res.status).toBe(400);
      expect(res.body.message).toBe('Query string is not valid percent-encoded UTF-8 (é is %C3%A9, a literal % is %25)');
    });
  });

  describe('raw HTTP answers are JSON too', () => {
    it('a request without Host gets the JSON 400', async () => {
      const answer = await raw(t.url, 'GET /get/a HTTP/1.1\r\n\r\n');
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toMatch(/content-type: application\/json/i);
      expect(JSON.parse(answer.split('\r\n\r\n')[1])).toEqual({ status: 'error', statusCode: 400, message: 'Host header is required (HTTP/1.1)' });
    });

    it('CONNECT gets a JSON 405, not a closed socket', async () => {
      const answer = await raw(t.url, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
      expect(answer).toMatch(/^HTTP\/1\.1 405 /);
      expect(JSON.parse(answer.split('\r\n\r\n')[1])).toMatchObject({ statusCode: 405, message: expect.stringContaining('CONNECT is not supported') });
    });

    it('HEAD /watch completes and the connection goes on serving', async () => {
      await request(t.url).put('/keys/after-head').set(json).send('{"value":"served"}').expect(201);
      const answer = await raw(t.url, 'HEAD /watch HTTP/1.1\r\nHost: x\r\n\r\nGET /get/after-head HTTP/1.1\r\nHost: x\r\n\r\n', 1500);
      const statuses = [...answer.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => Number(m[1]));
      expect(statuses).toEqual([200, 200]);
      expect(answer).toContain('{"key":"after-head","value":"served"}');
    });
  });

  describe('the built server as a process', () => {
    let server: ServerProcess | undefined;
    afterEach(() => killIfRunning(server));

    it('survives CONNECT requests whose clients reset the connection', async () => {
      server = await startServerProcess({ LOG_LEVEL: 'silent' });
      const { port } = new URL(server.url);
      for (let i = 0; i < 20; i++) {
        await new Promise<void>((resolve) => {
          const socket = net.connect(Number(port), '127.0.0.1');
          socket.on('error', () => undefined);
          socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', () => {
            socket.resetAndDestroy();
            resolve();
          });
        });
      }
      await new Promise((r) => setTimeout(r, 300));
      expect(server.child.exitCode).toBeNull();
      expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);
    });
  });
});
