import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

// The docs page and its files (Express routes ignore case, so this does too).
const DOCS_PATH = /^\/docs/i;

/**
 * Security headers from helmet. The docs page gets helmet's full set, made for HTML documents, without
 * upgrade-insecure-requests: this server speaks plain HTTP, and a browser opening /docs by host name would
 * otherwise fetch every script of the page over HTTPS and show nothing. Every other answer is JSON and gets the
 * set OWASP's REST Security Cheat Sheet recommends for APIs: a Content-Security-Policy that allows nothing and no
 * framing, nosniff, X-Frame-Options DENY, Cross-Origin-Resource-Policy, no referrer, and HSTS (for deployments
 * behind TLS). The headers only an HTML document heeds are left off JSON answers: sent with every one, they were
 * more than half of its bytes and a measurable share of its CPU time in `npm run bench`.
 */
export function securityHeaders(): Middleware {
  const page = helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } }, xPoweredBy: false });
  const api = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xFrameOptions: { action: 'deny' },
    xPermittedCrossDomainPolicies: false,
    xPoweredBy: false,
    xXssProtection: false,
  });
  const apiHeaders = headersSetBy(api);
  return (req, res, next) => {
    if (DOCS_PATH.test(req.originalUrl)) {
      page(req, res, next);
      return;
    }
    for (const [name, value] of apiHeaders) res.setHeader(name, value);
    next();
  };
}

/**
 * The headers a helmet configuration sets, found once by running it against a recording response: they depend on
 * the configuration only, never on the request, so each JSON answer just sets them (helmet's chain of a dozen
 * middleware per request showed in `npm run bench:layers`).
 */
function headersSetBy(middleware: Middleware): [string, string][] {
  const headers: [string, string][] = [];
  const recorder = {
    setHeader: (name: string, value: string) => headers.push([name, String(value)]),
    removeHeader: () => undefined,
    getHeader: () => undefined,
  };
  let done = false;
  middleware({ headers: {}, method: 'GET', url: '/' } as Request, recorder as unknown as Response, () => (done = true));
  if (!done) throw new Error('helmet did not call next() synchronously: its headers cannot be precomputed');
  return headers;
}
