import express from 'express';
import request from 'supertest';
import { InvalidRequestError } from '../errors/domain.errors';
import { rejectPrototypeQueryNames } from './prototype-query.middleware';

describe('rejectPrototypeQueryNames', () => {
  const app = express()
    .use(rejectPrototypeQueryNames)
    .get('/', (req, res) => res.json(req.query))
    .use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) =>
      res.status(error instanceof InvalidRequestError ? 400 : 500).json({ message: error.message }),
    );

  it.each(['__proto__', 'constructor', 'prototype'])('refuses a parameter named %s', async (name) => {
    const res = await request(app).get(`/?limit=1&${name}=x`).expect(400);
    expect(res.body.message).toBe(`Invalid request: property ${name} should not exist`);
  });

  it('lets other parameters, and requests without a query, through', async () => {
    expect((await request(app).get('/?proto=1&constructorName=2').expect(200)).body).toEqual({ proto: '1', constructorName: '2' });
    await request(app).get('/').expect(200);
  });
});
