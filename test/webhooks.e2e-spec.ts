import { createHmac } from 'node:crypto';
import request from 'supertest';
import { DRIVERS, useDriver } from './helpers/drivers';
import { startTestApp, type TestApp } from './helpers/test-app';
import { settledSubscription, startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver';

describe.each(DRIVERS)('webhook subscriptions on the %s driver (e2e, real receiver on 127.0.0.1)', (driver) => {
  const store = useDriver(driver);
  let t: TestApp;
  let receiver: WebhookReceiver;
  const json = { 'Content-Type': 'application/json' };
  const FAST_RETRIES = { WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_RETRY_BASE_MS: '20', WEBHOOK_RETRY_MAX_MS: '80', WEBHOOK_TIMEOUT_MS: '300' };
  /** The app under test, with fast retries and a fresh keyspace on the suite's driver. */
  const start = (extra: Record<string, string> = {}) => startTestApp({ ...store.env(), ...FAST_RETRIES, ...extra });

  beforeEach(async () => {
    receiver = await startWebhookReceiver();
  });
  afterEach(async () => {
    await t?.close();
    await receiver.close();
  });

  const subscribe = (body: Record<string, unknown>) => request(t.url).post('/subscriptions').set(json).send(JSON.stringify(body));
  const set = (pairs: Record<string, unknown>) => request(t.url).post('/set').set(json).send(JSON.stringify(pairs)).expect(200);
  const sign = (secret: string, raw: string) => `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;

  describe('management', () => {
    beforeEach(async () => {
      t = await start();
    });

    it('creates (returning a generated secret once), lists, shows and deletes subscriptions', async () => {
      const created = await subscribe({ url: receiver.url, prefix: 'user:' });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        url: receiver.url,
        filter: { prefix: 'user:' },
        createdAt: expect.any(String),
        secret: expect.stringMatching(/^[\w-]{43}$/),
        lastDeliveredRevision: null,
        pending: 0,
        consecutiveFailures: 0,
        lastError: null,
        deadLettered: 0,
        deadLetters: [],
      });
      const own = await subscribe({ url: receiver.url, secret: 'my-own-secret-123456' });
      expect(own.status).toBe(201);
      expect(own.body).not.toHaveProperty('secret');
      const list = await request(t.url).get('/subscriptions').expect(200);
      expect(list.body.map((s: { id: string }) => s.id).sort()).toEqual([created.body.id, own.body.id].sort());
      expect(JSON.stringify(list.body)).not.toContain(created.body.secret);
      const one = await request(t.url).get(`/subscriptions/${created.body.id}`).expect(200);
      expect(one.body).not.toHaveProperty('secret');
      expect(one.body.filter).toEqual({ prefix: 'user:' });
      await request(t.url).delete(`/subscriptions/${created.body.id}`).expect(204);
      const gone = await request(t.url).get(`/subscriptions/${created.body.id}`);
      expect(gone.status).toBe(404);
      expect(gone.body).toMatchObject({ status: 'error', statusCode: 404, message: 'Subscription not found' });
      expect((await request(t.url).delete(`/subscriptions/${created.body.id}`)).status).toBe(404);
    });

    it.each([
      [{ url: 'http://127.0.0.1/x', key: 'a', prefix: 'b' }, /at most one/],
      [{ url: 'http://127.0.0.1/x', secret: 'short' }, /secret/],
      [{ url: 'http://127.0.0.1/x', extra: 1 }, /extra/],
      [{}, /url/],
      [{ url: 'not a url' }, /valid absolute URL/],
      [{ url: 'ftp://127.0.0.1/x' }, /http or https/],
    ])('rejects %j with 400', async (body, message) => {
      const res = await subscribe(body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ status: 'error', statusCode: 400 });
      expect(res.body.message).toMatch(message);
    });
  });

  it.each([
    'http://localhost:9/x',
    'http://127.0.0.1:9/x',
    'http://[::1]:9/x',
    'http://10.0.0.5/x',
    'http://192.168.0.10/x',
    'http://169.254.169.254/latest/meta-data/',
    'http://0.0.0.0/x',
  ])('refuses the internal target %s at registration (400 with the reason) when not allowed', async (url) => {
    t = await startTestApp(store.env());
    const res = await subscribe({ url });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/not allowed: .* (loopback|internal)|internal address/);
    expect((await request(t.url).get('/subscriptions')).body).toEqual([]);
  });

  it('posts every matching change, in revision order, signed with the secret', async () => {
    t = await start();
    await set({ before: 1 }); // before the subscription: not delivered
    const secret = 'a-shared-secret-of-some-length';
    const sub = (await subscribe({ url: receiver.url, prefix: 'k', secret }).expect(201)).body;
    for (let i = 0; i < 20; i++) await set({ [`k${i}`]: i, [`other${i}`]: i });
    await request(t.url).delete('/keys/k0').expect(204);
    await receiver.waitFor((r) => r.length === 21);
    const revisions = receiver.received.map((h) => Number(h.headers['x-kv-revision']));
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(receiver.received.map((h) => h.body.key)).toEqual([...Array.from({ length: 20 }, (_, i) => `k${i}`), 'k0']);
    for (const hook of receiver.received) {
      expect(hook.headers['content-type']).toBe('application/json');
      expect(hook.headers['x-kv-signature']).toBe(sign(secret, hook.rawBody));
      expect(hook.headers['x-kv-delivery']).toMatch(/^[0-9a-f-]{36}$/);
      expect(hook.headers['x-kv-subscription']).toBe(sub.id);
      expect(hook.body.revision).toBe(Number(hook.headers['x-kv-revision']));
    }
    expect(receiver.received[0].body).toEqual({ type: 'put', key: 'k0', value: 0, keyspace: expect.stringMatching(/^[0-9a-f]{12}$/), revision: 2, time: expect.any(String) });
    expect(receiver.received[20].body).toMatchObject({ type: 'delete', key: 'k0', prevValue: 0 });
    const state = await settledSubscription(t.url, sub.id);
    expect(state).toMatchObject({ lastDeliveredRevision: receiver.received[20].body.revision, pending: 0, consecutiveFailures: 0, deadLettered: 0 });
  });

  it('retries after 500s and timeouts with the same delivery id, keeping order', async () => {
    t = await start();
    receiver.reply = (_hook, index) => (index === 0 || index === 1 ? { status: 500 } : index === 2 ? { status: 200, delayMs: 1000 } : { status: 200 });
    await subscribe({ url: receiver.url }).expect(201);
    await set({ first: 1 });
    await set({ second: 2 });
    await receiver.waitFor((r) => r.some((h) => h.body.key === 'second'), 8000);
    const keys = receiver.received.map((h) => h.body.key);
    // 500, 500, timeout, then success: four attempts of `first` before `second` is ever sent
    expect(keys.slice(0, 4)).toEqual(['first', 'first', 'first', 'first']);
    expect(keys[4]).toBe('second');
    expect(new Set(receiver.received.slice(0, 4).map((h) => h.headers['x-kv-delivery'])).size).toBe(1);
    // backoff grows: the gap before the second retry is not shorter than the first's lower bound
    expect(receiver.received[1].at - receiver.received[0].at).toBeGreaterThanOrEqual(10);
  });

  it('dead-letters an event after WEBHOOK_MAX_ATTEMPTS and continues with the next', async () => {
    t = await start({ WEBHOOK_MAX_ATTEMPTS: '3' });
    receiver.reply = (hook) => ({ status: hook.body.key === 'poison' ? 500 : 204 });
    const sub = (await subscribe({ url: receiver.url }).expect(201)).body;
    await set({ poison: 1 });
    await set({ fine: 2 });
    await receiver.waitFor((r) => r.some((h) => h.body.key === 'fine'), 5000);
    expect(receiver.received.filter((h) => h.body.key === 'poison')).toHaveLength(3);
    const state = await settledSubscription(t.url, sub.id);
    expect(state).toMatchObject({
      deadLettered: 1,
      lastDeliveredRevision: 2,
      consecutiveFailures: 0,
      lastError: 'HTTP 500',
      pending: 0,
      deadLetters: [{ revision: 1, key: 'poison', attempts: 3, error: 'HTTP 500', at: expect.any(String) }],
    });
  });

  // The memory driver queues in process, bounded by WEBHOOK_MAX_PENDING; Redis keeps the queue in the feed,
  // bounded by WATCH_HISTORY.
  if (driver === 'redis') {
    it('dead-letters events trimmed from the feed before the subscription read them, and continues in order', async () => {
      t = await start({ WATCH_HISTORY: '10', WEBHOOK_TIMEOUT_MS: '3000' });
      receiver.reply = (_hook, index) => ({ status: 200, delayMs: index === 0 ? 600 : 0 });
      const sub = (await subscribe({ url: receiver.url }).expect(201)).body;
      await set({ first: 0 });
      await receiver.waitFor((r) => r.length === 1);
      // While `first` is in flight, 300 more events: trimming whole stream nodes (of up to 100 entries) keeps the
      // newest 10 to 109, so the oldest of these leave the feed unread.
      await set(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])));
      await receiver.waitFor((r) => r.some((h) => h.body.key === 'k299'), 10_000);
      const revisions = receiver.received.map((h) => h.body.revision as number);
      const resumedAt = revisions[1];
      expect(revisions).toEqual([1, ...Array.from({ length: 302 - resumedAt }, (_, i) => resumedAt + i)]);
      const state = await settledSubscription(t.url, sub.id);
      expect(state).toMatchObject({
        lastDeliveredRevision: 301,
        pending: 0,
        deadLettered: resumedAt - 2,
        deadLetters: [{ revision: 2, key: '', attempts: 0, error: `revisions 2-${resumedAt - 1} left the change feed (WATCH_HISTORY=10, WATCH_HISTORY_BYTES=67108864) before delivery` }],
      });
    });
  } else
  it('bounds the queue of a slow receiver at WEBHOOK_MAX_PENDING, dead-lettering the overflow', async () => {
    t = await start({ WEBHOOK_MAX_PENDING: '3', WEBHOOK_TIMEOUT_MS: '2000' });
    receiver.reply = () => ({ status: 200, delayMs: 150 });
    const sub = (await subscribe({ url: receiver.url }).expect(201)).body;
    await set(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i])));
    const state = (await request(t.url).get(`/subscriptions/${sub.id}`)).body;
    expect(state.pending).toBeLessThanOrEqual(3);
    // the batch is queued whole before the first send: the oldest seven give way
    expect(state.deadLettered).toBe(7);
    expect(state.deadLetters[0]).toMatchObject({ key: 'k0', attempts: 0, error: 'queue full (WEBHOOK_MAX_PENDING=3)' });
    await receiver.waitFor((r) => r.length === 3, 3000);
    expect(receiver.received.map((h) => h.body.key)).toEqual(['k7', 'k8', 'k9']);
    // while one is in flight, newer events still get through: the next-oldest queued one gives way
    await set(Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`n${i}`, i])));
    await receiver.waitFor((r) => r.some((h) => h.body.key === 'n4'), 3000);
    await new Promise((r) => setTimeout(r, 400));
    const later = receiver.received.slice(3).map((h) => h.body.key);
    expect(later[later.length - 1]).toBe('n4');
    expect(later.length).toBeLessThanOrEqual(3);
  });

  it('counts a refused or unreachable target as a failed attempt, visible in the state', async () => {
    t = await start({ WEBHOOK_MAX_ATTEMPTS: '2' });
    const port = new URL(receiver.url).port;
    await receiver.close();
    const sub = (await subscribe({ url: `http://127.0.0.1:${port}/gone` }).expect(201)).body;
    await set({ a: 1 });
    const state = await settledSubscription(t.url, sub.id, (s) => s.deadLettered !== 0);
    expect(state).toMatchObject({ deadLettered: 1, lastError: expect.stringMatching(/ECONNREFUSED/) });
    receiver = await startWebhookReceiver(); // for afterEach
  });
});
