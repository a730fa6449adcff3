'use strict';
/**
 * Reference server for `npm run bench` (bench/compare.bench.ts): the two seed routes of kv-store in a bare NestJS
 * application on the Express platform (the framework the service is built on), over a Map, with the same answers
 * as bench/reference/express.cjs. One controller, Nest's defaults (its own JSON body parser and exception
 * handling) and nothing else: no validation pipe, guards, filters, middleware, logging or metrics.
 *
 * It is the ceiling of the framework: the gap between it and plain Express is what Nest's request pipeline
 * (router proxy, execution context, parameter resolution, response handling) costs; the gap between it and
 * the service is what the service's own layers cost. PORT and HOST from the environment.
 *
 * Plain CommonJS with the decorators applied by hand (Reflect.decorate, as TypeScript emits them), so it runs
 * with node alone, like the other reference servers.
 */
require('reflect-metadata');
const { Body, Controller, Get, HttpCode, HttpException, Module, Param, Post } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');

const store = new Map();

class KvController {
  live() {
    return { status: 'ok' };
  }

  get(key) {
    if (!store.has(key)) throw new HttpException({ status: 'error', statusCode: 404, message: 'Key not found' }, 404);
    return { key, value: store.get(key) };
  }

  set(body) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpException({ status: 'error', statusCode: 400, message: 'Body must be a JSON object' }, 400);
    }
    const names = Object.keys(body);
    if (names.length === 2 && typeof body.key === 'string' && 'value' in body) {
      store.set(body.key, body.value);
      return { status: 'success', message: 'key-value pair is set successfully' };
    }
    for (const name of names) store.set(name, body[name]);
    return { status: 'success', message: 'key-value pairs are set successfully', count: names.length };
  }
}

/** Applies method decorators (and a parameter decorator for argument 0) the way TypeScript's emit does. */
function decorate(method, decorators, param) {
  const descriptor = Object.getOwnPropertyDescriptor(KvController.prototype, method);
  const all = param ? [...decorators, (target, key) => param(target, key, 0)] : decorators;
  Object.defineProperty(KvController.prototype, method, Reflect.decorate(all, KvController.prototype, method, descriptor));
}
decorate('live', [Get('health/live')]);
decorate('get', [Get('get/:key')], Param('key'));
decorate('set', [Post('set'), HttpCode(200)], Body());
Reflect.decorate([Controller()], KvController);

class AppModule {}
Reflect.decorate([Module({ controllers: [KvController] })], AppModule);

async function main() {
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1');
  process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
