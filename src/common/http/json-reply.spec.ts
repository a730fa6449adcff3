import express, { type Express } from 'express';
import fc from 'fast-check';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { raw } from '../../../test/helpers/raw-http';
import { sendJsonAsIs } from './json-reply';

/** What a route answers: `body` with `status`, after setting `preset` headers. */
interface Answer {
  readonly body: unknown;
  readonly status: number;
  readonly preset?: readonly [string, string][];
}

/** An answer as the client gets it: status line, headers in order (without Date) and body. */
interface Received {
  readonly status: number;
  readonly headers: string[];
  readonly body: string;
}

/**
 * An Express app on 127.0.0.1 with two routes answering the same `answer`: `/stock` with `res.json()` (what Nest's
 * reply calls for an object), `/direct` with sendJsonAsIs, falling back to `res.json()` when it declines.
 */
async function startApp(configure: (app: Express) => void = () => undefined) {
  const app = express();
  configure(app);
  let answer: Answer = { body: {}, status: 200 };
  const taken: boolean[] = [];
  const preset = (res: express.Response) => {
    for (const [name, value] of answer.preset ?? []) res.setHeader(name, value);
  };
  app.all('/stock', (_req, res) => {
    preset(res);
    res.status(answer.status).json(answer.body);
  });
  app.all('/direct', (_req, res) => {
    preset(res);
    const sent = sendJsonAsIs(res, answer.body, answer.status, app);
    taken.push(sent);
    if (!sent) res.status(answer.status).json(answer.body);
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  /** The answer's bytes as sent, split into status, headers in order (without Date) and body. */
  const request = async (path: string, method: string, headers: Record<string, string>): Promise<Received> => {
    const head = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
    const answer = await raw(url, `${head.join('\r\n')}\r\n\r\n`);
    const end = answer.indexOf('\r\n\r\n');
    const [statusLine, ...lines] = answer.slice(0, end).split('\r\n');
    return {
      status: Number(statusLine.split(' ')[1]),
      headers: lines.filter((line) => !/^date:/i.test(line)),
      body: Buffer.from(answer.slice(end + 4), 'latin1').toString('utf8'),
    };
  };
  return {
    /** Asks both routes for `next` and returns both answers and whether sendJsonAsIs sent it. */
    async both(next: Answer, method = 'GET', headers: Record<string, string> = {}) {
      answer = next;
      const stock = await request('/stock', method, headers);
      const direct = await request('/direct', method, headers);
      return { stock, direct, sent: taken.pop() };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('sendJsonAsIs', () => {
  let app: Awaited<ReturnType<typeof startApp>>;

  describe('in an app like the service (no ETags)', () => {
    beforeAll(async () => {
      app = await startApp((a) => a.set('etag', false));
    });
    afterAll(() => app.close());

    it('sends exactly what res.json() sends for any JSON object or array, with any status that has a body', async () => {
      const bodies = fc.oneof(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 6 }), fc.array(fc.jsonValue(), { maxLength: 6 }));
      await fc.assert(
        fc.asyncProperty(bodies, fc.constantFrom(200, 201, 202, 400, 404, 409, 412, 500, 503), async (body, status) => {
          const { stock, direct, sent } = await app.both({ body, status });
          expect(direct).toEqual(stock);
          // Objects without Object.prototype (fast-check makes some) are left to res.json().
          expect(sent).toBe(Array.isArray(body) || Object.getPrototypeOf(body) === Object.prototype);
        }),
        { numRuns: 150 },
      );
    });

    it('sends a plain answer with the type and length res.json() gives it', async () => {
      const { direct, sent } = await app.both({ body: { key: 'é', value: [1, { a: null }] }, status: 200 });
      expect(sent).toBe(true);
      expect(direct.headers).toEqual(expect.arrayContaining(['Content-Type: application/json; charset=utf-8', 'Content-Length: 35']));
      expect(direct.body).toBe('{"key":"é","value":[1,{"a":null}]}');
    });

    it.each([
      ['a HEAD request', { body: { a: 1 }, status: 200 }, 'HEAD', {}],
      ['If-None-Match: * (Express answers 304)', { body: { a: 1 }, status: 200 }, 'GET', { 'If-None-Match': '*' }],
      ['If-None-Match with the ETag set', { body: { a: 1 }, status: 200, preset: [['ETag', '"x"']] }, 'GET', { 'If-None-Match': '"x"' }],
      ['If-Modified-Since', { body: { a: 1 }, status: 200, preset: [['Last-Modified', 'Wed, 21 Oct 2015 07:28:00 GMT']] }, 'GET', { 'If-Modified-Since': 'Wed, 21 Oct 2015 07:28:00 GMT' }],
      ['204', { body: { a: 1 }, status: 204 }, 'GET', {}],
      ['205', { body: { a: 1 }, status: 205 }, 'GET', {}],
      ['304', { body: { a: 1 }, status: 304 }, 'GET', {}],
      ['a Content-Type already set', { body: { a: 1 }, status: 200, preset: [['Content-Type', 'application/problem+json']] }, 'GET', {}],
      ['a Transfer-Encoding already set', { body: { a: 1 }, status: 200, preset: [['Transfer-Encoding', 'chunked']] }, 'GET', {}],
      ['a class instance', { body: new (class Point { x = 1 })(), status: 200 }, 'GET', {}],
      ['a Date', { body: new Date(0), status: 200 }, 'GET', {}],
      ['null', { body: null, status: 200 }, 'GET', {}],
      ['a string', { body: 'text', status: 200 }, 'GET', {}],
      ['a number', { body: 5, status: 200 }, 'GET', {}],
      ['a plain object whose toJSON() gives no JSON', { body: { toJSON: () => undefined }, status: 200 }, 'GET', {}],
    ] as [string, Answer, string, Record<string, string>][])('leaves %s to res.json(), which answers the same', async (_name, answer, method, headers) => {
      const { stock, direct, sent } = await app.both(answer, method, headers);
      expect(sent).toBe(false);
      expect(direct).toEqual(stock);
    });

    it('proves the conditional cases matter: res.json() answers 304 to If-None-Match: *', async () => {
      const { stock } = await app.both({ body: { a: 1 }, status: 200 }, 'GET', { 'If-None-Match': '*' });
      expect(stock.status).toBe(304);
      expect(stock.body).toBe('');
    });
  });

  it.each([
    ['ETags', (a: Express) => a.set('etag', 'weak')],
    ['json spaces', (a: Express) => a.set('etag', false).set('json spaces', 2)],
    ['a json replacer', (a: Express) => a.set('etag', false).set('json replacer', (_k: string, v: unknown) => (typeof v === 'number' ? v * 2 : v))],
    ['json escape', (a: Express) => a.set('etag', false).set('json escape', true)],
  ])('leaves an app with %s to res.json(), which answers the same', async (_name, configure) => {
    const own = await startApp(configure);
    try {
      const { stock, direct, sent } = await own.both({ body: { a: 1, html: '<b>&</b>' }, status: 200 });
      expect(sent).toBe(false);
      expect(direct).toEqual(stock);
    } finally {
      await own.close();
    }
  });
});
