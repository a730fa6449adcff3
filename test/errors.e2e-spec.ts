import request from 'supertest';
import { KeyValueStore } from '../src/store/kv.store';
import { MemoryStore } from '../src/store/memory/memory.store';
import { startTestApp, type TestApp } from './helpers/test-app';

describe('errors and request ids (e2e)', () => {
  let t: TestApp;
  afterEach(() => t.close());

  it('answers unknown routes with a JSON 404', async () => {
    t = await startTestApp();
    const res = await request(t.url).get('/no/such/route');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ status: 'error', statusCode: 404, message: 'Cannot GET /no/such/route' });
  });

  it('generates a request id and echoes a caller\'s', async () => {
    t = await startTestApp();
    const generated = await request(t.url).get('/get/x');
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const echoed = await request(t.url).get('/get/x').set('X-Request-Id', 'trace-abc.123');
    expect(echoed.headers['x-request-id']).toBe('trace-abc.123');
    const unsafe = await request(t.url).get('/get/x').set('X-Request-Id', 'a'.repeat(500));
    expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers an unexpected failure with a generic 500 that leaks nothing', async () => {
    class BrokenStore extends MemoryStore {
      override async value(): Promise<never> {
        throw new Error('disk on fire at /secret/path');
      }
    }
    t = await startTestApp({}, (b) => b.overrideProvider(KeyValueStore).useValue(new BrokenStore({ sweepIntervalMs: 1000, history: 1 })));
    const res = await request(t.url).get('/get/x');
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ status: 'error', statusCode: 500, message: 'Internal server error' });
    expect(res.text).not.toContain('secret');
  });
});
