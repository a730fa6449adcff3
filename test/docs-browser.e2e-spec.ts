import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import {
  authorizeBearer,
  type Chromium,
  launchChromium,
  NON_LOCAL_HOST,
  operationBlock,
  renderedOperations,
  tryItOut,
  waitForOperations,
  watchPage,
} from './helpers/browser';
import { startTestApp, type TestApp } from './helpers/test-app';

/**
 * The docs page in a real browser (headless Debian Chromium driven by playwright-core): Swagger UI must render
 * every documented operation and its "Try it out" must reach the API, under the security headers (helmet's
 * Content-Security-Policy included) and, with API keys configured, through the "Authorize" dialog. Any console
 * error, uncaught exception, failed request, CSP violation or request to another origin fails the test.
 */
const ARTIFACTS = join(__dirname, 'artifacts');
const READ = 'read-key-0123456789abcdef';
const WRITE = 'write-key-0123456789abcdef';

// Generous: this machine is small and shared, and Swagger UI is heavy to render there.
jest.setTimeout(60_000);

const keyUrl = (base: string, key: string) => `${base}/keys/${encodeURIComponent(key)}`;

/** `METHOD /path` of every operation in the OpenAPI document. */
async function documentedOperations(base: string): Promise<string[]> {
  const doc = (await (await fetch(`${base}/docs-json`)).json()) as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
}

describe('API docs in a browser (e2e, Chromium)', () => {
  let browser: Chromium | undefined;
  let page: Page | undefined;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // The first start of Chromium on a small machine takes a few seconds.
    browser = await launchChromium();
  }, 60_000);
  afterEach(async () => {
    await page?.close();
    page = undefined;
  });
  afterAll(async () => {
    try {
      await browser?.close();
    } finally {
      await Promise.all(apps.map((a) => a.close()));
    }
  });

  async function app(env: Record<string, string> = {}): Promise<TestApp> {
    const t = await startTestApp(env);
    apps.push(t);
    return t;
  }

  /** Opens /docs from `origin` in a new page, watched for problems, and waits for Swagger UI to render. */
  async function openDocs(origin: string) {
    page = await browser!.context.newPage();
    const watch = await watchPage(page, origin);
    const res = await page.goto(`${origin}/docs`);
    await waitForOperations(page);
    return { page, watch, headers: res?.headers() ?? {} };
  }

  describe('without API keys', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await app();
    });

    it('renders every operation of /docs-json under the Content-Security-Policy', async () => {
      const { page, watch, headers } = await openDocs(t.url);
      // The page really ran under helmet's policy: scripts from our own origin only.
      expect(headers['content-security-policy']).toContain("script-src 'self'");
      expect(await page.locator('.info .title').innerText()).toContain('kv-store');
      const documented = await documentedOperations(t.url);
      expect(documented.length).toBeGreaterThan(10);
      expect((await renderedOperations(page)).sort()).toEqual(documented.sort());
      await page.screenshot({ path: join(ARTIFACTS, 'docs.png') });
      expect(watch.problems).toEqual([]);
    });

    it('"Try it out" writes with PUT /keys/{key} and reads it back with GET, for real', async () => {
      const { page, watch } = await openDocs(t.url);
      // A key that must be percent-encoded in the path, typed as is: Swagger UI encodes it.
      const key = 'docs/try it ü?';
      const value = { from: 'swagger-ui', n: 1 };

      const put = await tryItOut(operationBlock(page, 'PUT', '/keys/{key}'), { params: { key }, body: JSON.stringify({ value }) });
      expect(put.requestUrl).toBe(keyUrl(t.url, key));
      expect(put.status).toBe(201);
      const written = JSON.parse(put.body);
      expect(written).toEqual(expect.objectContaining({ key, value, revision: expect.any(Number), expiresAt: null }));

      const get = await tryItOut(operationBlock(page, 'GET', '/keys/{key}'), { params: { key } });
      expect(get.status).toBe(200);
      expect(JSON.parse(get.body)).toEqual(expect.objectContaining({ key, value, revision: written.revision }));

      // And the write really happened, as any client sees it.
      const direct = await fetch(keyUrl(t.url, key));
      expect(direct.status).toBe(200);
      expect(await direct.json()).toEqual(expect.objectContaining({ key, value, revision: written.revision }));
      expect(await (await fetch(`${t.url}/get/${encodeURIComponent(key)}`)).json()).toEqual({ key, value });

      await operationBlock(page, 'PUT', '/keys/{key}').locator('.live-responses-table').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(ARTIFACTS, 'docs-try-it-out.png') });
      expect(watch.problems).toEqual([]);
    });

    it(`also works when opened by host name over plain HTTP (http://${NON_LOCAL_HOST}:<port>/docs), not just at localhost`, async () => {
      // Chromium exempts 127.0.0.1 and localhost from some HTTPS-only rules (they are "potentially trustworthy");
      // anyone opening the docs at http://kv-store.internal:8080/docs gets no such exemption.
      const origin = t.url.replace('127.0.0.1', NON_LOCAL_HOST);
      const { page, watch } = await openDocs(origin);
      await page.screenshot({ path: join(ARTIFACTS, 'docs-non-local-host.png') });
      // Irrelevant here: Chromium ignores Cross-Origin-Opener-Policy on a non-HTTPS origin and says so as a console
      // "error"; the header only isolates popups, which this page never opens. Nothing else is excused.
      const problems = watch.problems.filter((p) => !p.startsWith('console.error: The Cross-Origin-Opener-Policy header has been ignored'));
      expect(problems).toEqual([]);
      expect((await renderedOperations(page)).sort()).toEqual((await documentedOperations(t.url)).sort());
      const health = await tryItOut(operationBlock(page, 'GET', '/health/live'), {});
      expect(health.status).toBe(200);
    });
  });

  describe('with API keys', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await app({ API_KEYS: `read:${READ},write:${WRITE}` });
    });

    it('"Try it out" gets 401 until a key is given in the "Authorize" dialog, then reads and writes', async () => {
      const key = 'docs:auth';
      const seeded = await fetch(keyUrl(t.url, key), {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${WRITE}` },
        body: JSON.stringify({ value: 'seeded' }),
      });
      expect(seeded.status).toBe(201);
      const { page, watch } = await openDocs(t.url);
      const getOp = operationBlock(page, 'GET', '/keys/{key}');

      // Not authorized yet: the API's 401, rendered. (Provoked on purpose, so this one HTTP error is allowed.)
      watch.expectHttpError(401, keyUrl(t.url, key));
      const denied = await tryItOut(getOp, { params: { key } });
      expect(denied.status).toBe(401);
      expect(JSON.parse(denied.body)).toEqual({ status: 'error', statusCode: 401, message: expect.stringMatching(/API key is required/) });

      // Both documented ways of sending a key are offered; authorize with the bearer one (a write key).
      const schemes = await authorizeBearer(page, WRITE);
      expect(schemes).toEqual(['bearer (http, Bearer)', 'api-key (apiKey)']);

      const read = await tryItOut(getOp, { params: { key } });
      expect(read.status).toBe(200);
      expect(JSON.parse(read.body)).toEqual(expect.objectContaining({ key, value: 'seeded' }));

      const put = await tryItOut(operationBlock(page, 'PUT', '/keys/{key}'), { params: { key }, body: '{"value":{"via":"authorize"}}' });
      expect(put.status).toBe(200);
      expect(JSON.parse(put.body)).toEqual(expect.objectContaining({ key, value: { via: 'authorize' } }));
      const direct = await fetch(keyUrl(t.url, key), { headers: { Authorization: `Bearer ${READ}` } });
      expect(direct.status).toBe(200);
      expect(await direct.json()).toEqual(expect.objectContaining({ key, value: { via: 'authorize' } }));

      await operationBlock(page, 'PUT', '/keys/{key}').locator('.live-responses-table').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(ARTIFACTS, 'docs-authorized.png') });
      expect(watch.problems).toEqual([]);
    });
  });
});
