import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import type { Server } from 'node:http';
import { Logger, PinoLogger } from 'nestjs-pino';
import { API_KEY_SCHEME, BEARER_SCHEME } from './auth/auth.decorators';
import { addErrorExamples } from './common/docs/error-examples';
import { checkJsonBody, jsonBodyParser, requireJsonBody } from './common/http/json-body.middleware';
import { answerClientErrorsWithJson } from './common/http/malformed-requests';
import { compose } from './common/http/compose';
import { ConditionalRoutes, refuseIgnoredPreconditions } from './common/http/conditional';
import { rejectPrototypeQueryNames, rejectUndecodableQuery } from './common/http/prototype-query.middleware';
import { RouteTable } from './common/http/route-table';
import { RequestDeadlines } from './common/http/request-deadlines';
import { requestLifecycle } from './common/http/request-lifecycle';
import { RequestsInFlight } from './common/http/requests-in-flight.middleware';
import { securityHeaders } from './common/http/security-headers.middleware';
import { StreamingRoutes } from './common/http/streaming-route';
import { trustProxySetting } from './common/http/trust-proxy';
import { limitUrlLength } from './common/http/url-length.middleware';
import { accessLog, assignRequestId } from './common/logging/logger.options';
import { AppConfig } from './config/app-config';
import { HEALTH_TAG } from './health/health.controller';
import { LifecycleService } from './health/lifecycle.service';
import { KEYS_TAG } from './key-value/keys.controller';
import { SEED_TAG } from './key-value/kv.controller';
import { readBuildInfo } from './metrics/build-info';
import { HttpMetricsRecorder } from './metrics/http-metrics.recorder';
import { METRICS_TAG } from './metrics/metrics.controller';
import { SEARCH_TAG } from './search/search.controller';
import { SUBSCRIPTIONS_TAG } from './subscription/subscriptions.controller';
import { WATCH_TAG } from './subscription/watch.controller';

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

/**
 * Where stages put their middleware. Consecutive middleware are mounted as one Express layer (`compose`): every
 * layer costs the router a match and a step per request, and `npm run bench:layers` measured the ten layers this
 * pipeline used to mount at more than a tenth of a request's time. A stage that mounts something itself (CORS, the
 * docs) does it through `direct`, which mounts what was gathered before it first.
 */
class Mount {
  private readonly batch: Middleware[] = [];

  constructor(private readonly app: NestExpressApplication) {}

  use(...middleware: Middleware[]): void {
    this.batch.push(...middleware);
  }

  direct(mount: () => void): void {
    this.flush();
    mount();
  }

  flush(): void {
    if (this.batch.length > 0) this.app.use(compose(this.batch.splice(0)));
  }
}

/** One stage of the HTTP pipeline: what it installs on the application, from the validated settings. */
type Stage = (app: NestExpressApplication, config: AppConfig, mount: Mount) => void;

/** Nest logs through the JSON logger (pino), as every request line does. */
const jsonLogger: Stage = (app) => app.useLogger(app.get(Logger));

/** Node's own limits of the server: keep-alive and head timeouts, and JSON answers to requests that are not HTTP. */
const serverLimits: Stage = (app, config) => {
  const server = app.getHttpServer() as Server;
  // Above common load-balancer idle timeouts (60 s), so a proxy never reuses a connection we just closed;
  // headers may take a little longer still, as Node requires.
  server.keepAliveTimeout = config.getOrThrow('KEEP_ALIVE_TIMEOUT_MS', { infer: true });
  server.headersTimeout = server.keepAliveTimeout + 1000;
  answerClientErrorsWithJson(server, config.getOrThrow('HTTP_MAX_HEADER_BYTES', { infer: true }), config.getOrThrow('HTTP_REQUEST_TIMEOUT_MS', { infer: true }));
};

/**
 * What must see every request begin and end, mounted first: its id, `Connection: close` while draining, its
 * deadline (HTTP_REQUEST_TIMEOUT_MS; streaming routes exempt), at most HTTP_MAX_REQUESTS_IN_FLIGHT at once (503
 * beyond it: what bodies and pages can hold is bounded), the request metrics and the access log.
 */
const requestTracking: Stage = (app, config, mount) => {
  const lifecycle = app.get(LifecycleService);
  const streaming = app.get(StreamingRoutes);
  const deadlines = new RequestDeadlines(config.getOrThrow('HTTP_REQUEST_TIMEOUT_MS', { infer: true }), (req) => streaming.matches(req)).boundTo(
    app.getHttpServer() as Server,
  );
  const inFlight = new RequestsInFlight(config.getOrThrow('HTTP_MAX_REQUESTS_IN_FLIGHT', { infer: true }));
  const requestLog = accessLog(PinoLogger.root);
  // The last lines go out before Nest's own shutdown lines, and a closed application leaves nothing behind.
  (app.getHttpServer() as Server).once('close', () => requestLog.close());
  // While draining, every answer closes its connection, so clients and proxies let go of this process before it
  // stops accepting connections.
  const closeWhileDraining = (_req: Request, res: Response) => {
    if (lifecycle.draining) res.setHeader('Connection', 'close');
  };
  mount.use(
    requestLifecycle(
      [assignRequestId, closeWhileDraining, deadlines.start],
      [deadlines.finish, inFlight.finish, app.get(HttpMetricsRecorder).observe, requestLog.observe],
    ),
    inFlight.middleware,
  );
};

/** Which proxies to believe about the client address (TRUST_PROXY). */
const proxyTrust: Stage = (app, config) => app.set('trust proxy', trustProxySetting(config.getOrThrow('TRUST_PROXY', { infer: true })));

const headers: Stage = (app, _config, mount) => {
  mount.use(securityHeaders());
  app.disable('x-powered-by');
  // Our ETags are revisions (keys.controller.ts); Express's body hashes would only cost CPU and confuse caches.
  app.set('etag', false);
};

/** CORS for CORS_ORIGINS; none at all when it is empty. */
const cors: Stage = (app, config, mount) => {
  const origins = config.getOrThrow('CORS_ORIGINS', { infer: true });
  if (origins === '') return;
  mount.direct(() =>
    app.enableCors({
      origin: origins === '*' ? '*' : origins.split(',').map((o) => o.trim()),
      allowedHeaders: ['Authorization', 'X-API-Key', 'Content-Type', 'If-Match', 'If-None-Match', 'Last-Event-ID', 'X-Request-Id'],
      exposedHeaders: ['ETag', 'Link', 'Location', 'Retry-After', 'X-Request-Id'],
      maxAge: 600,
    }),
  );
};

/**
 * 414 beyond HTTP_MAX_URL_BYTES, then a query string that decodes as UTF-8, with no parameter named like a prototype
 * member, and no precondition header on a route that would ignore it.
 */
const urlChecks: Stage = (app, config, mount) => {
  mount.use(
    limitUrlLength(config.getOrThrow('HTTP_MAX_URL_BYTES', { infer: true })),
    rejectUndecodableQuery,
    rejectPrototypeQueryNames,
    refuseIgnoredPreconditions(app.get(ConditionalRoutes), app.get(RouteTable)),
  );
};

/** JSON bodies only (415 otherwise), at most KV_MAX_BODY_BYTES, nested at most KV_MAX_JSON_DEPTH deep. */
const jsonBodies: Stage = (_app, config, mount) => {
  mount.use(
    requireJsonBody,
    jsonBodyParser(config.getOrThrow('KV_MAX_BODY_BYTES', { infer: true })),
    checkJsonBody(config.getOrThrow('KV_MAX_JSON_DEPTH', { infer: true })),
  );
};

/** The OpenAPI document at /docs-json and the Swagger UI at /docs. */
const apiDocs: Stage = (app, _config, mount) =>
  mount.direct(() => SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), { jsonDocumentUrl: 'docs-json' }));

/** The HTTP pipeline, in the order a request meets it. */
const PIPELINE: readonly Stage[] = [jsonLogger, serverLimits, requestTracking, proxyTrust, headers, cors, urlChecks, jsonBodies, apiDocs];

/**
 * Everything the HTTP application needs beyond its modules (PIPELINE). Shared by main.ts and the e2e tests so both
 * run the same stack.
 */
export function configureApp(app: NestExpressApplication): void {
  const config = app.get(AppConfig);
  const mount = new Mount(app);
  for (const stage of PIPELINE) stage(app, config, mount);
  mount.flush();
}

/** Builds the OpenAPI document served at /docs and /docs-json. */
export function buildOpenApiDocument(app: NestExpressApplication) {
  const config = new DocumentBuilder()
    .setTitle('kv-store')
    .setDescription(
      'A key-value store over HTTP. Keys are 1 to KV_MAX_KEY_BYTES bytes of UTF-8 (no control characters) and must be ' +
        'percent-encoded in paths; values are any JSON value. When API keys are configured, send one as `Authorization: Bearer <key>` ' +
        '(or `X-API-Key`): role `read` for GET routes and watch, `write` for changes, `admin` for subscriptions. Every error is JSON: ' +
        '`{"status":"error","statusCode":N,"message":"...","details"?:[...]}`. Every answer carries `X-Request-Id`.',
    )
    .setVersion(readBuildInfo().version)
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
  return addErrorExamples(SwaggerModule.createDocument(app, config));
}
