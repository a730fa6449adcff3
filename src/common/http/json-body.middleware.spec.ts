import express from 'express';
import request from 'supertest';
import { checkJsonBody, isJsonBody, jsonBodyProblem, requireJsonBody } from './json-body.middleware';

describe('JSON bodies', () => {
  const app = express()
    .use(requireJsonBody)
    .use(express.json({ strict: false, type: isJsonBody }))
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
