import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { startTestApp, type TestApp } from './helpers/test-app';

describe('API docs (e2e)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('serves Swagger UI at /docs', async () => {
    const res = await request(t.url).get('/docs');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.text).toContain('swagger-ui');
  });

  it('documents every route with its errors at /docs-json, the REST API first', async () => {
    const res = await request(t.url).get('/docs-json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toMatch(/^3\./);
    const operations = Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, unknown>; tags: string[] }>>).flatMap(
      ([path, methods]) => Object.entries(methods).map(([method, op]) => ({ id: `${method.toUpperCase()} ${path}`, op })),
    );
    expect(operations.map((o) => o.id).sort()).toEqual(
      [
        'DELETE /keys/{key}',
        'DELETE /subscriptions/{id}',
        'GET /',
        'GET /get/{key}',
        'GET /health',
        'GET /health/live',
        'GET /health/ready',
        'GET /metrics',
        'GET /keys',
        'GET /keys/{key}',
        'GET /search',
        'GET /subscriptions',
        'GET /subscriptions/{id}',
        'GET /watch',
        'POST /set',
        'POST /subscriptions',
        'PUT /keys/{key}',
      ].sort(),
    );
    // These take no input, so no client error is possible there.
    const inputless = ['GET /subscriptions', 'GET /health', 'GET /health/live', 'GET /health/ready', 'GET /metrics'];
    for (const { id, op } of operations.filter((o) => !inputless.includes(o.id))) {
      const errors = Object.keys(op.responses).filter((code) => code.startsWith('4'));
      expect({ id, documentsErrors: errors.length > 0 }).toEqual({ id, documentsErrors: true });
    }
    expect(doc.tags.map((tag: { name: string }) => tag.name)).toEqual(['keys', 'search', 'watch', 'subscriptions', 'seed-compatible', 'health', 'metrics']);
    const watchOp = doc.paths['/watch'].get;
    expect(Object.keys(watchOp.responses['200'].content)).toEqual(['text/event-stream']);
    expect(watchOp.description).toMatch(/Last-Event-ID/);
    expect(watchOp.description).toMatch(/event: reset/);
    expect(doc.paths['/search'].get.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['after', 'limit', 'prefix', 'suffix']);
    expect(doc.components.schemas.ErrorResponseDto.required).toEqual(expect.arrayContaining(['status', 'statusCode', 'message']));
    const setOp = doc.paths['/set'].post;
    expect(Object.keys(setOp.requestBody.content['application/json'].examples)).toEqual(['pair', 'map']);
    expect(setOp.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['nx', 'ttl', 'xx']);
  });

  it('tells the truth: the package version, a description for every answer, each error example with its own status', async () => {
    const doc = (await request(t.url).get('/docs-json')).body;
    expect(doc.info.version).toBe((JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version);
    type Example = { status: string; statusCode: number; message: string };
    type Response = { description?: string; content?: Record<string, { example?: Example; schema?: { example?: Example } }> };
    const answers = Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, Response> }>>).flatMap(([path, methods]) =>
      Object.entries(methods).flatMap(([method, op]) => Object.entries(op.responses).map(([status, response]) => ({ id: `${method.toUpperCase()} ${path} ${status}`, status, response }))),
    );
    expect(answers.filter((a) => !a.response.description).map((a) => a.id)).toEqual([]);
    const errors = answers.filter((a) => Number(a.status) >= 400 && a.response.content?.['application/json']);
    expect(errors.length).toBeGreaterThan(30);
    for (const { id, status, response } of errors) {
      const json = response.content!['application/json'];
      const example = json.example ?? json.schema?.example;
      expect({ id, example: { status: example?.status, statusCode: example?.statusCode } }).toEqual({ id, example: { status: 'error', statusCode: Number(status) } });
    }
    // The example of GET /get/{key}'s 404 is the message that route sends.
    expect(doc.paths['/get/{key}'].get.responses['404'].content['application/json'].example).toEqual({ status: 'error', statusCode: 404, message: 'Key not found' });
    const notFound = await request(t.url).get('/get/absent');
    expect(notFound.body).toEqual(doc.paths['/get/{key}'].get.responses['404'].content['application/json'].example);
  });

  it("shows readiness as it is: the example has the real checks and fields", async () => {
    const doc = (await request(t.url).get('/docs-json')).body;
    const example = doc.paths['/health/ready'].get.responses['200'].content['application/json'].schema.example;
    const real = (await request(t.url).get('/health/ready')).body;
    const shape = (value: unknown): unknown =>
      value !== null && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shape(v)])) : typeof value;
    expect(shape(example)).toEqual(shape(real));
    expect(example.details.store.driver).toBe(real.details.store.driver);
  });
});
