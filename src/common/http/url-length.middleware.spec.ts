import express from 'express';
import request from 'supertest';
import { limitUrlLength } from './url-length.middleware';

describe('limitUrlLength', () => {
  const app = express()
    .use(limitUrlLength(40))
    .get('/{*path}', (_req, res) => res.json({ ok: true }))
    .use((error: { status?: number; message: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) =>
      res.status(error.status ?? 500).json({ message: error.message }),
    );

  it('passes a URL of exactly the limit, in bytes', async () => {
    await request(app).get(`/${'a'.repeat(39)}`).expect(200);
  });

  it('answers 414 naming HTTP_MAX_URL_BYTES beyond it, counting the query too', async () => {
    const res = await request(app).get(`/a?q=${encodeURIComponent('é'.repeat(10))}`).expect(414);
    expect(res.body.message).toBe('Request URL is 65 bytes; the limit is HTTP_MAX_URL_BYTES=40');
  });
});
