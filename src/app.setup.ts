import { type INestApplication, UnsupportedMediaTypeException } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import type { IncomingMessage } from 'node:http';
import { Logger, PinoLogger } from 'nestjs-pino';
import { AppConfig } from './config/app-config';
import { API_KEY_SCHEME, BEARER_SCHEME } from './auth/auth.decorators';
import {
  answerClientErrorsWithJson,
  checkJsonBody,
  limitUrlLength,
  rejectPrototypeQueryNames,
  securityHeaders,
  trustProxySetting,
} from './common/http/hardening';
import { assignRequestId, logRequest } from './common/logging/logger.options';
import { RequestDeadlines } from './common/http/request-deadlines';
import { requestLifecycle } from './common/http/request-lifecycle';
import { KEYS_TAG } from './key-value/keys.controller';
import { SEED_TAG } from './key-value/kv.controller';
import { HEALTH_TAG } from './health/health.controller';
import { LifecycleService } from './health/lifecycle.service';
import { HttpMetricsRecorder } from './metrics/http-metrics.recorder';
import { METRICS_TAG } from './metrics/metrics.controller';
import { SEARCH_TAG } from './search/search.controller';
import { SUBSCRIPTIONS_TAG } from './subscription/subscriptions.controller';
import { WATCH_TAG } from './subscription/watch.controller';

const JSON_TYPES = ['application/json', 'application/*+json'];
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const WATCH_PATH = /^\/watch\/?$/i;

/** Requests whose body is declared as JSON, as requireJsonBody found: the body parser reads only these. */
const jsonBodies = new WeakSet<IncomingMessage>();

/**
 * A write with a body must declare it as JSON (415 otherwise): we never guess at other encodings. The answer is
 * kept for the body parser (`isJsonBody`), so the Content-Type header is parsed once per request, not twice.
 */
function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  const { 'transfer-encoding': encoding, 'content-length': length } = req.headers;
  // What type-is counts as a body (an empty one included), as the body parser always has: an empty JSON body
  // still reads as {}.
  if (encoding === undefined && length === undefined) {
    next();
    return;
  }
  if (req.is(JSON_TYPES)) {
    jsonBodies.add(req);
  } else if (WRITE_METHODS.has(req.method) && (encoding !== undefined || length !== '0')) {
    next(new UnsupportedMediaTypeException(`Content-Type must be application/json (got ${req.headers['content-type'] ?? 'none'})`));
    return;
  }
  next();
}

const isJsonBody = (req: IncomingMessage): boolean => jsonBodies.has(req);

/** Builds the OpenAPI document served at /docs and /docs-json. */
export function buildOpenApiDocument(app: INestApplication) {
  const config = new DocumentBuilder()
    .setTitle('kv-store')
    .setDescription(
      'A key-value store over HTTP. Keys are 1 to KV_MAX_KEY_BYTES bytes of UTF-8 (no control characters) and must be ' +
        'percent-encoded in paths; values are any JSON value. When API keys are configured, send one as `Authorization: Bearer <key>` ' +
        '(or `X-API-Key`): role `read` for GET routes and watch, `write` for changes, `admin` for subscriptions. Every error is JSON: ' +
        '`{"status":"error","statusCode":N,"message":"...","details"?:[...]}`. Every answer carries `X-Request-Id`.',
    )
    .setVersion('1')
    .addTag(KEYS_TAG, 'The canonical resource API: records with revisions, ETags and compare-and-set.')
    .addTag(SEARCH_TAG, 'Prefix and suffix search, answered from ordered indexes.')
    .addTag(WATCH_TAG, 'Live change streams (Server-Sent Events) that resume without gaps.')
    .addTag(SUBSCRIPTIONS_TAG, 'Signed webhooks: every matching change POSTed to your URL, retried, dead-lettered.')
    .addTag(SEED_TAG, 'The routes and exact shapes of the services kv-store replaces.')
    .addTag(HEALTH_TAG, 'Liveness and readiness probes.')
    .addTag(METRICS_TAG, 'Prometheus metrics.')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key from API_KEYS (`Authorization: Bearer <key>`).' }, BEARER_SCHEME)
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The same API key in X-API-Key.' }, API_KEY_SCHEME)
    .build();
  return SwaggerModule.createDocument(app, config);
}

/**
 * Everything the HTTP application needs beyond its modules: the JSON logger, request metrics, keep-alive
 * timeouts, JSON answers to malformed HTTP, proxy trust, security headers, CORS, URL/body/nesting limits, the
 * request timeout, `Connection: close` while draining, JSON-only bodies, and the docs.
 * Shared by main.ts and the e2e tests so both run the same stack.
 */
export function configureApp(app: NestExpressApplication): void {
  const config = app.get(AppConfig);
  const lifecycle = app.get(LifecycleService);
  app.useLogger(app.get(Logger));
  // Above common load-balancer idle timeouts (60 s), so a proxy never reuses a connection we just closed;
  // headers may take a little longer still, as Node requires.
  const server = app.getHttpServer();
  server.keepAliveTimeout = config.getOrThrow('KEEP_ALIVE_TIMEOUT_MS', { infer: true });
  server.headersTimeout = server.keepAliveTimeout + 1000;
  const requestTimeoutMs = config.getOrThrow('HTTP_REQUEST_TIMEOUT_MS', { infer: true });
  answerClientErrorsWithJson(server, config.getOrThrow('HTTP_MAX_HEADER_BYTES', { infer: true }), requestTimeoutMs);
  // Watch streams are meant to stay open; everything else must be answered in time.
  // Routing ignores case and a trailing slash, so the exemption must too.
  const deadlines = new RequestDeadlines(requestTimeoutMs, (req) => WATCH_PATH.test(req.path)).boundTo(server);
  // While draining, every answer closes its connection, so clients and proxies let go of this process
  // before it stops accepting connections.
  const closeWhileDraining = (_req: Request, res: Response) => {
    if (lifecycle.draining) res.setHeader('Connection', 'close');
  };
  app.use(
    requestLifecycle(
      [assignRequestId, closeWhileDraining, deadlines.start],
      [deadlines.finish, app.get(HttpMetricsRecorder).observe, logRequest(PinoLogger.root)],
    ),
  );
  app.set('trust proxy', trustProxySetting(config.getOrThrow('TRUST_PROXY', { infer: true })));
  app.use(securityHeaders());
  const corsOrigins = config.getOrThrow('CORS_ORIGINS', { infer: true });
  if (corsOrigins !== '') {
    app.enableCors({
      origin: corsOrigins === '*' ? '*' : corsOrigins.split(',').map((o) => o.trim()),
      allowedHeaders: ['Authorization', 'X-API-Key', 'Content-Type', 'If-Match', 'If-None-Match', 'Last-Event-ID', 'X-Request-Id'],
      exposedHeaders: ['ETag', 'Link', 'Location', 'Retry-After', 'X-Request-Id'],
      maxAge: 600,
    });
  }
  app.use(limitUrlLength(config.getOrThrow('HTTP_MAX_URL_BYTES', { infer: true })));
  app.disable('x-powered-by');
  // Our ETags are revisions (keys.controller.ts); Express's body hashes would only cost CPU and confuse caches.
  app.set('etag', false);
  app.use(rejectPrototypeQueryNames);
  app.use(requireJsonBody);
  app.useBodyParser('json', {
    limit: config.getOrThrow('KV_MAX_BODY_BYTES', { infer: true }),
    // Any JSON text is accepted here so that a scalar or array body gets our clear 400, not a parser error.
    strict: false,
    type: isJsonBody,
  });
  app.use(checkJsonBody(config.getOrThrow('KV_MAX_JSON_DEPTH', { infer: true })));
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), { jsonDocumentUrl: 'docs-json' });
}
