import bodyParser from 'body-parser';
import express from 'express';
import fc from 'fast-check';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { checkJsonBody, isJsonBody, jsonBodyParser, jsonBodyProblem, refuseInvalidUtf8, requireJsonBody } from './json-body.middleware';

describe('JSON bodies', () => {
  const app = express()
    .use(requireJsonBody)
    .use(jsonBodyParser(1024))
    .use(checkJsonBody(3))
    .all('/', (req, res) => res.json({ body: req.body ?? null }))
    .use((error: { status?: number; message: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) =>
      res.status(error.status ?? 400).json({ message: error.message }),
    );

  it('parses a body declared as JSON (or +json), and only such bodies', async () => {
    expect((await request(app).post('/').set('Content-Type', 'application/json').send('{"a":1}')).body).toEqual({ body: { a: 1 } });
    expect((await request(app).post('/').set('Content-Type', 'application/merge-patch+json').send('[1]')).body).toEqual({ body: [1] });
  });

  it('answers 415 for a write whose body is not declared as JSON, but not for an empty one or a read', async () => {
    const res = await request(app).post('/').set('Content-Type', 'text/plain').send('a=1').expect(415);
    expect(res.body.message).toBe('Content-Type must be application/json (got text/plain)');
    await request(app).post('/').set('Content-Length', '0').expect(200);
    await request(app).get('/').set('Content-Type', 'text/plain').send('ignored').expect(200);
  });

  it('answers 400 for nesting deeper than the limit and for numbers JSON.parse can only read as Infinity', async () => {
    const deep = await request(app).post('/').set('Content-Type', 'application/json').send('[[[[1]]]]').expect(400);
    expect(deep.body.message).toBe('JSON body is nested deeper than KV_MAX_JSON_DEPTH=3');
    await request(app).post('/').set('Content-Type', 'application/json').send('[[[1]]]').expect(200);
    const huge = await request(app).post('/').set('Content-Type', 'application/json').send('{"n":1e999}').expect(400);
    expect(huge.body.message).toBe('JSON body has a number out of range (beyond ±1.8e308)');
  });

  it('walks a hostile body without recursion', () => {
    let deep: unknown = 0;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(jsonBodyProblem(deep, 64)).toBe('JSON body is nested deeper than KV_MAX_JSON_DEPTH=64');
  });
});

/** What a body parser handed on: the parsed body, or the error and the fields the exception filter and Nest read. */
type Outcome = { body: unknown } | { error: Record<string, unknown> };

/** An app that parses with `parser` and records each request's outcome; `next()` is the next request's. */
async function recordingApp(parser: express.RequestHandler) {
  const settled: ((outcome: Outcome) => void)[] = [];
  const settle = (outcome: Outcome) => settled.shift()?.(outcome);
  const app = express()
    .use(requireJsonBody)
    .use(parser)
    .use((req: express.Request, res: express.Response) => {
      settle({ body: req.body });
      res.end();
    })
    .use((error: Error & Record<string, unknown>, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      const { status, statusCode, expose, type, message, body, code } = error;
      settle({ error: { status, statusCode, expose, type, message, body, code, isSyntaxError: error instanceof SyntaxError } });
      res.status(400).end();
    });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    next: () => new Promise<Outcome>((resolve) => settled.push(resolve)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Writes a raw POST (its head lines, then `body`), and ends the connection early after `abortAfter` bytes of body. */
function post(port: number, head: string[], body: Buffer, abortAfter?: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n${head.map((line) => `${line}\r\n`).join('')}\r\n`);
      if (abortAfter === undefined) socket.write(body);
      else socket.write(body.subarray(0, abortAfter), () => setTimeout(() => socket.destroy(), 20));
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
    socket.resume();
  });
}

describe('jsonBodyParser', () => {
  const LIMIT = 64;
  let fast: Awaited<ReturnType<typeof recordingApp>>;
  let stock: Awaited<ReturnType<typeof recordingApp>>;
  beforeAll(async () => {
    fast = await recordingApp(jsonBodyParser(LIMIT));
    // What the service mounted before: body-parser with the same options.
    stock = await recordingApp(bodyParser.json({ limit: LIMIT, strict: false, type: isJsonBody, verify: refuseInvalidUtf8 }));
  });
  afterAll(async () => {
    await fast.close();
    await stock.close();
  });

  /** The outcome of the same request on both apps. */
  async function both(head: string[], body: Buffer, abortAfter?: number) {
    const outcomes: Outcome[] = [];
    for (const app of [fast, stock]) {
      const outcome = app.next();
      await post(app.port, head, body, abortAfter);
      outcomes.push(await outcome);
    }
    return { fast: outcomes[0], stock: outcomes[1] };
  }

  const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
  /** JSON texts, anything a client might type, arbitrary bytes (mostly not UTF-8), with or without a BOM. */
  const bodies = fc
    .tuple(
      fc.oneof(
        fc.jsonValue({ maxDepth: 3 }).map((value) => Buffer.from(JSON.stringify(value) ?? 'null')),
        fc.string({ unit: 'binary', maxLength: 40 }).map((text) => Buffer.from(text)),
        fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
        fc.constantFrom('', ' ', '{}', '{"a":', '[1,]', 'nul', '"\\ud800"').map((text) => Buffer.from(text)),
      ),
      fc.boolean(),
    )
    .map(([body, bom]) => (bom ? Buffer.concat([BOM, body]) : body));
  // The two the reader takes, and spellings only body-parser's own charset check tells apart (415 or not).
  const types = fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/merge-patch+json',
    'application/json; charset=UTF-8',
    'application/json;charset=utf-8',
    'application/json; charset=utf8',
    'application/json; charset=utf-8 x',
    'application/json; a="x;charset=utf-8"; charset=latin1',
  );

  it('hands on what body-parser hands on, for any body sent with a Content-Length, gzipped or chunked', async () => {
    await fc.assert(
      fc.asyncProperty(bodies, types, fc.constantFrom('length', 'gzip', 'chunked'), async (body, type, framing) => {
        const sent = framing === 'gzip' ? gzipSync(body) : body;
        const head =
          framing === 'chunked'
            ? [`Content-Type: ${type}`, 'Transfer-Encoding: chunked']
            : [`Content-Type: ${type}`, `Content-Length: ${sent.length}`, ...(framing === 'gzip' ? ['Content-Encoding: gzip'] : [])];
        const wire = framing === 'chunked' ? Buffer.concat([Buffer.from(`${sent.length.toString(16)}\r\n`), sent, Buffer.from('\r\n0\r\n\r\n')]) : sent;
        const { fast: mine, stock: theirs } = await both(head, sent.length === 0 && framing === 'chunked' ? Buffer.from('0\r\n\r\n') : wire);
        expect(mine).toEqual(theirs);
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['a valid body', '{"key":"a","value":[1,2]}', { body: { key: 'a', value: [1, 2] } }],
    ['a BOM before the JSON', '\ufeff{"a":1}', { body: { a: 1 } }],
    ['a BOM alone (an empty body)', '\ufeff', { body: {} }],
    ['a scalar', '5', { body: 5 }],
  ])('parses %s as body-parser does', async (_name, text, expected) => {
    const body = Buffer.from(text);
    const { fast: mine, stock: theirs } = await both(['Content-Type: application/json', `Content-Length: ${body.length}`], body);
    expect(mine).toEqual(expected);
    expect(theirs).toEqual(expected);
  });

  it('fails malformed JSON and invalid UTF-8 as body-parser does, with the type the exception filter reads', async () => {
    const broken = Buffer.from('{"a":');
    const parse = await both(['Content-Type: application/json', `Content-Length: ${broken.length}`], broken);
    expect(parse.fast).toEqual(parse.stock);
    expect(parse.fast).toMatchObject({ error: { status: 400, statusCode: 400, expose: true, type: 'entity.parse.failed', isSyntaxError: true } });
    const latin1 = Buffer.from('{"a":"\xe9"}', 'latin1');
    const verify = await both(['Content-Type: application/json', `Content-Length: ${latin1.length}`], latin1);
    expect(verify.fast).toEqual(verify.stock);
    expect(verify.fast).toMatchObject({ error: { status: 400, type: 'entity.verify.failed', message: 'JSON body is not valid UTF-8' } });
  });

  it('leaves a body over the limit to body-parser: 413 before reading it', async () => {
    const body = Buffer.from(JSON.stringify({ a: 'x'.repeat(LIMIT) }));
    const { fast: mine, stock: theirs } = await both(['Content-Type: application/json', `Content-Length: ${body.length}`], body);
    expect(mine).toEqual(theirs);
    expect(mine).toMatchObject({ error: { status: 413, type: 'entity.too.large' } });
  });

  it('fails a body whose client went away midway as a request aborted (400)', async () => {
    const body = Buffer.from('{"a":"0123456789012345678901234567890123456789"}');
    const { fast: mine, stock: theirs } = await both(['Content-Type: application/json', `Content-Length: ${body.length}`], body, 10);
    const fields = (outcome: Outcome) =>
      'error' in outcome ? { status: outcome.error.status, type: outcome.error.type, message: outcome.error.message, code: outcome.error.code } : outcome;
    expect(fields(mine)).toEqual({ status: 400, type: 'request.aborted', message: 'request aborted', code: 'ECONNABORTED' });
    expect(fields(theirs)).toEqual(fields(mine));
  });
});
