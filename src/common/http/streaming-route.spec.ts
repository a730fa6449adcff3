import { Controller, Get, Req } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import type { Request } from 'express';
import request from 'supertest';
import { HttpPipelineModule } from './http-pipeline.module';
import { StreamingRoute, StreamingRoutes } from './streaming-route';

@Controller('feed')
class FeedController {
  constructor(private readonly routes: StreamingRoutes) {}

  @Get()
  @StreamingRoute()
  stream(@Req() req: Request) {
    return { streaming: this.routes.matches(req) };
  }

  @Get('plain')
  plain(@Req() req: Request) {
    return { streaming: this.routes.matches(req) };
  }
}

describe('StreamingRoutes', () => {
  let app: NestExpressApplication;
  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [HttpPipelineModule], controllers: [FeedController] }).compile();
    app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
    await app.init();
  });
  afterAll(() => app.close());

  it('knows a request routed to a @StreamingRoute handler, however its path was spelled', async () => {
    for (const path of ['/feed', '/FEED/', '/feed?x=1']) expect((await request(app.getHttpServer()).get(path).expect(200)).body).toEqual({ streaming: true });
  });

  it('tells other routes apart, and an unrouted request is not streaming', async () => {
    expect((await request(app.getHttpServer()).get('/feed/plain').expect(200)).body).toEqual({ streaming: false });
    expect(app.get(StreamingRoutes).matches({} as Request)).toBe(false);
  });
});
