import express from 'express';
import fc from 'fast-check';
import { parse } from 'node:querystring';
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

  it('refuses such a name however it is percent-encoded', async () => {
    await request(app).get('/?%5F%5Fproto%5F%5F=x').expect(400);
    await request(app).get('/?a=1&constr%75ctor=1').expect(400);
    await request(app).get('/?%70rototype').expect(400);
  });

  it('refuses exactly the query strings whose parsed names include one (the check skips parsing when none can)', async () => {
    // Names built from pieces of the three, their escapes, and characters the parser decodes ('+', '%20').
    const piece = fc.constantFrom('__', 'proto', 'constructor', 'prototype', '%5F', '%70', '%6F', 'c', '+', '%20', 'x', '=', '&');
    const query = fc.array(piece, { maxLength: 8 }).map((pieces) => pieces.join(''));
    await fc.assert(
      fc.asyncProperty(query, async (text) => {
        const names = Object.keys(parse(text));
        const refused = ['__proto__', 'constructor', 'prototype'].some((name) => names.includes(name));
        const res = await request(app).get(`/?${text}`);
        expect(res.status).toBe(refused ? 400 : 200);
      }),
      { numRuns: 300 },
    );
  });
});

