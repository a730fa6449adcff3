import express from 'express';
import request from 'supertest';
import { securityHeaders } from './security-headers.middleware';

describe('securityHeaders', () => {
  const app = express()
    .use(securityHeaders())
    .get('/{*path}', (_req, res) => res.json({ ok: true }));

  it("gives JSON answers OWASP's API set, without the headers only an HTML document heeds", async () => {
    const res = await request(app).get('/keys/a');
    expect(res.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
    expect(res.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' });
    expect(res.headers['strict-transport-security']).toBeDefined();
    expect(res.headers['x-dns-prefetch-control']).toBeUndefined();
    expect(res.headers['cross-origin-opener-policy']).toBeUndefined();
  });

  it.each(['/docs', '/docs/', '/DOCS/swagger-ui.css'])("gives the docs page (%s) helmet's full HTML set, without upgrade-insecure-requests", async (path) => {
    const res = await request(app).get(path);
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
    expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
  });
});
