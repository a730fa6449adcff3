import { ExpressAdapter } from '@nestjs/platform-express';
import http from 'node:http';
import type { EnvironmentVariables } from '../../config/env.validation';
import type { Socket } from 'node:net';
import { answerConnect, answerOutsideApp, originFormOf } from './malformed-requests';

/**
 * The Express adapter with what Nest does not expose: the request-head limit (HTTP_MAX_HEADER_BYTES, 431 beyond
 * it) is fixed when the server is created, and request targets are checked before Express parses them (it would
 * answer a malformed one with an HTML page).
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
    const app = this.getInstance<http.RequestListener>();
    // Nest's own options (https, return503OnClosing, forceCloseConnections) are not used by this service.
    this.setHttpServer(
      // Node would answer a request without Host with a bare 400 of its own: it is answered here, in JSON.
      http.createServer({ maxHeaderSize: this.settings.HTTP_MAX_HEADER_BYTES, requireHostHeader: false }, (req, res) => {
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
}
