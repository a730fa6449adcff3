import request from 'supertest';
import { DRIVERS, useDriver } from './helpers/drivers';
import { openSse } from './helpers/sse-client';
import { startTestApp, type TestApp } from './helpers/test-app';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver';

const json = { 'Content-Type': 'application/json' };
/** A value that would change a prototype if anything assigned it property by property. */
const HOSTILE = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"prototype":1}';

describe.each(DRIVERS)('keys and values named __proto__, constructor, prototype are plain data (%s driver)', (driver) => {
  const store = useDriver(driver);
  let t: TestApp;
  let receiver: WebhookReceiver;
  beforeEach(async () => {
    receiver = await startWebhookReceiver();
    t = await startTestApp({ ...store.env(), WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' });
  });
  afterEach(async () => {
    await t.close();
    await receiver.close();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  });

  it('stores, reads, lists, searches and streams them unchanged', async () => {
    await request(t.url).post('/subscriptions').set(json).send(JSON.stringify({ url: receiver.url })).expect(201);
    const stream = await openSse(`${t.url}/watch`);
    try {
      await request(t.url).post('/set').set(json).send(`{"key":"__proto__","value":${HOSTILE}}`).expect(200);
      await request(t.url).post('/set').set(json).send(`{"constructor":${HOSTILE},"prototype":"p","__proto__x":1}`).expect(200);
      await request(t.url).put('/keys/hostile').set(json).send(`{"value":${HOSTILE}}`).expect(201);

      for (const key of ['__proto__', 'constructor', 'hostile']) {
        const got = await request(t.url).get(`/get/${encodeURIComponent(key)}`).expect(200);
        expect(got.text).toBe(`{"key":${JSON.stringify(key)},"value":${HOSTILE}}`);
        const record = await request(t.url).get(`/keys/${encodeURIComponent(key)}`).expect(200);
        expect(record.text).toContain(`"value":${HOSTILE}`);
      }
      expect((await request(t.url).get('/get/prototype').expect(200)).body).toEqual({ key: 'prototype', value: 'p' });
      const all = (await request(t.url).get('/').expect(200)).text;
      expect(all).toBe(`{"__proto__":${HOSTILE},"__proto__x":1,"constructor":${HOSTILE},"hostile":${HOSTILE},"prototype":"p"}`);
      expect((await request(t.url).get('/search?prefix=__proto__').expect(200)).body).toEqual(['__proto__', '__proto__x']);
      expect((await request(t.url).get('/search?suffix=type').expect(200)).body).toEqual(['prototype']);
      const keys = (await request(t.url).get('/keys?prefix=co').expect(200)).body;
      expect(JSON.stringify(keys)).toContain(`"key":"constructor"`);

      await stream.waitFor(() => stream.events().length === 5);
      expect(stream.events().map((e) => e.data.key)).toEqual(['__proto__', 'constructor', 'prototype', '__proto__x', 'hostile']);
      // The raw frame carries the value exactly as written.
      expect(stream.frames.find((f) => f.event === 'put')?.data).toContain(`"key":"__proto__","value":${HOSTILE}`);
      await receiver.waitFor((r) => r.length === 5);
      expect(receiver.received[0].rawBody).toContain(`"key":"__proto__","value":${HOSTILE}`);
      expect(Object.getPrototypeOf(receiver.received[0].body.value)).toBe(Object.prototype);
    } finally {
      stream.close();
    }
  });
});
