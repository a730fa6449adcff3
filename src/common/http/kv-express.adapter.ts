import { ExpressAdapter } from '@nestjs/platform-express';
import http from 'node:http';
import type { EnvironmentVariables } from '../../config/env.validation';
import type { Socket } from 'node:net';
import type { Express, Response } from 'express';
import { sendJsonAsIs } from './json-reply';
import { answerConnect, answerOutsideApp, originFormOf } from './malformed-requests';

/**
 * The Express adapter with what Nest does not expose: the request-head limit (HTTP_MAX_HEADER_BYTES, 431 beyond
 * it) is fixed when the server is created, and request targets are checked before Express parses them (it would
 * answer a malformed one with an HTML page). Two savings on every request, with the same answers: requests and
 * responses are made with Express's prototypes (constructedWithPrototype), and JSON answers that `res.json()` would
 * send as they are are written directly (`reply`).
 */
export class KvExpressAdapter extends ExpressAdapter {
  /**
   * `settings`: the validated environment (main.ts and the e2e apps pass the same), read for the two settings
   * only the server's creation can apply: HTTP_MAX_HEADER_BYTES, and HTTP_REQUEST_TIMEOUT_MS as the longest a
   * connection closed on a malformed target keeps reading the body sent.
   */
  constructor(private readonly settings: Pick<EnvironmentVariables, 'HTTP_MAX_HEADER_BYTES' | 'HTTP_REQUEST_TIMEOUT_MS'>) {
    super();
  }

  override initHttpServer(): void {
    const app = this.getInstance<Express>();
    const options: http.ServerOptions = {
      maxHeaderSize: this.settings.HTTP_MAX_HEADER_BYTES,
      // Node would answer a request without Host with a bare 400 of its own: it is answered here, in JSON.
      requireHostHeader: false,
      IncomingMessage: constructedWithPrototype(http.IncomingMessage, app.request),
      ServerResponse: constructedWithPrototype(http.ServerResponse, app.response),
    };
    // Nest's own options (https, return503OnClosing, forceCloseConnections) are not used by this service.
    this.setHttpServer(
      http.createServer(options, (req, res) => {
        const target = originFormOf(req.url ?? '', req.method);
        if (target === null) {
          answerOutsideApp(res, 400, 'Malformed request target: expected a path such as /keys/a', this.settings.HTTP_REQUEST_TIMEOUT_MS);
          return;
        }
        if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
          answerOutsideApp(res, 400, 'Host header is required (HTTP/1.1)', this.settings.HTTP_REQUEST_TIMEOUT_MS);
          return;
        }
        req.url = target;
        app(req, res);
      }),
    );
    // Node closes a CONNECT (a proxy tunnel request) without a word unless someone listens: this is no proxy.
    this.getHttpServer().on('connect', (req: http.IncomingMessage, socket: Socket) => answerConnect(req, socket, this.settings.HTTP_REQUEST_TIMEOUT_MS));
  }

  /**
   * Nest's reply, with plain objects and arrays written at once when `res.json()` would send them as they are
   * (sendJsonAsIs): the same bytes and headers in fewer steps.
   */
  override reply(response: Response, body: unknown, statusCode?: number): unknown {
    return sendJsonAsIs(response, body, statusCode ?? response.statusCode, this.getInstance<Express>()) ? response : super.reply(response, body, statusCode);
  }
}

/**
 * A constructor of `base`'s objects that come with `prototype` ([[Prototype]]) from the start. Express gives every
 * request and response its own prototypes (`app.request`, `app.response`) with `Object.setPrototypeOf` when it
 * takes them; objects Node made with those prototypes already make that call a no-op, where changing the prototype
 * of a live object moved it to another hidden class on every request.
 */
function constructedWithPrototype<T extends typeof http.IncomingMessage | typeof http.ServerResponse>(base: T, prototype: object): T {
  function Constructed(this: unknown, ...args: unknown[]): object {
    return Reflect.construct(base as unknown as new (...args: unknown[]) => object, args, Constructed);
  }
  Constructed.prototype = prototype;
  return Constructed as unknown as T;
}
