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
});
