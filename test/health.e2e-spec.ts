import request from 'supertest';
import { LifecycleService } from '../src/health/lifecycle.service';
import { KeyValueStore } from '../src/store/kv.store';
import { MemoryStore } from '../src/store/memory/memory.store';
import { startTestApp, type TestApp } from './helpers/test-app';

describe('health probes (e2e)', () => {
  let t: TestApp;
  afterEach(() => t.close());

  it('answers liveness without touching the store, and readiness with terminus\' JSON', async () => {
    t = await startTestApp();
    const live = await request(t.url).get('/health/live').expect(200);
    expect(live.body).toEqual({ status: 'ok', info: { process: { status: 'up' } }, error: {}, details: { process: { status: 'up' } } });
    for (const path of ['/health/ready', '/health']) {
      const ready = await request(t.url).get(path).expect(200);
      const store = { status: 'up', driver: 'memory', keyspace: expect.stringMatching(/^[0-9a-f]{12}$/) };
      expect(ready.body).toEqual({ status: 'ok', info: { lifecycle: { status: 'up' }, store }, error: {}, details: { lifecycle: { status: 'up' }, store } });
    }
  });

  it('fails readiness with 503 while draining, and liveness stays up', async () => {
    t = await startTestApp();
    t.app.get(LifecycleService).startDraining();
    for (const path of ['/health/ready', '/health']) {
      const res = await request(t.url).get(path);
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({
        status: 'error',
        statusCode: 503,
        message: 'Not ready: lifecycle',
        error: { lifecycle: { status: 'down', message: expect.stringMatching(/^shutting down since/) } },
      });
    }
    await request(t.url).get('/health/live').expect(200);
    // still serving, but telling clients to let go of the connection
    const served = await request(t.url).get('/get/x');
    expect(served.status).toBe(404);
    expect(served.headers.connection).toBe('close');
  });

  it('fails readiness when the store does not answer a ping in time', async () => {
    class StuckStore extends MemoryStore {
      override ping(): Promise<void> {
        return new Promise(() => undefined);
      }
    }
    t = await startTestApp({ HEALTH_STORE_TIMEOUT_MS: '100' }, (b) =>
      b.overrideProvider(KeyValueStore).useValue(new StuckStore({ sweepIntervalMs: 1000, history: 1 })),
    );
    const started = Date.now();
    const res = await request(t.url).get('/health/ready');
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.body.error.store).toEqual({ status: 'down', driver: 'memory', message: 'no answer within 100 ms' });
    await request(t.url).get('/health/live').expect(200);
  });

  it('fails readiness after a fault left the state unknown', async () => {
    t = await startTestApp();
    t.app.get(LifecycleService).markFaulty('an unhandled promise rejection left the process state unknown');
    const res = await request(t.url).get('/health/ready').expect(503);
    expect(res.body.error.lifecycle.message).toMatch(/unhandled promise rejection/);
  });
});
