import { ExpressAdapter } from '@nestjs/platform-express';
import http from 'node:http';
import { answerOutsideApp, originFormOf } from './hardening';

/**
 * The Express adapter with what Nest does not expose: the request-head limit (HTTP_MAX_HEADER_BYTES, 431 beyond
 * it) is fixed when the server is created, and request targets are checked before Express parses them (it would
 * answer a malformed one with an HTML page).
 */
export class KvExpressAdapter extends ExpressAdapter {
  constructor(
    private readonly serverSettings: {
      /** HTTP_MAX_HEADER_BYTES. */
      readonly maxHeaderSize: number;
      /** HTTP_REQUEST_TIMEOUT_MS: how long a connection closed on a malformed target keeps reading the body sent. */
      readonly requestTimeoutMs: number;
    },
  ) {
    super();
  }

  override initHttpServer(): void {
    const app = this.getInstance<http.RequestListener>();
    // Nest's own options (https, return503OnClosing, forceCloseConnections) are not used by this service.
    this.setHttpServer(
      http.createServer({ maxHeaderSize: this.serverSettings.maxHeaderSize }, (req, res) => {
        const target = originFormOf(req.url ?? '', req.method);
        if (target === null) {
          answerOutsideApp(res, 400, 'Malformed request target: expected a path such as /keys/a', this.serverSettings.requestTimeoutMs);
          return;
        }
        req.url = target;
        app(req, res);
      }),
    );
  }
}
