import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { until } from './until';

/** Debian's Chromium. Tests never download a browser. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * A host name that Chromium resolves to 127.0.0.1 (--host-resolver-rules): pages loaded from it run on a
 * plain-HTTP origin that is not "potentially trustworthy", as they do for anyone who opens the docs by host
 * name (`http://kv-store.internal:8080/docs`), not at localhost.
 */
export const NON_LOCAL_HOST = 'kv-docs.test';

export interface Chromium {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** Starts headless Chromium with a fresh profile in a temporary directory that close() removes. */
export async function launchChromium(): Promise<Chromium> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's Chromium, install it with \`apt-get install chromium\``);
  }
  const profile = mkdtempSync(join(tmpdir(), 'kv-docs-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 60_000,
      viewport: { width: 1280, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-quic',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
        `--host-resolver-rules=MAP ${NON_LOCAL_HOST} 127.0.0.1`,
      ],
    });
    // Well below jest's timeouts, so a missing element fails with Playwright's message, not a bare timeout.
    context.setDefaultTimeout(10_000);
    return {
      context,
      close: async () => {
        try {
          await context.close();
        } finally {
          rmSync(profile, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Everything that goes wrong in a page: console errors, uncaught exceptions, failed requests, HTTP errors,
 * requests to any other origin and Content-Security-Policy violations. `expectHttpError` excuses an HTTP error
 * answer (status and URL) that the test provokes on purpose, and Chromium's console line about it.
 */
export async function watchPage(page: Page, origin: string) {
  const problems: string[] = [];
  const expected = new Set<string>();
  const isExpected = (status: number, url: string) => expected.has(`${status} ${url}`);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const url = msg.location().url;
    const status = /the server responded with a status of (\d{3})/.exec(msg.text())?.[1];
    if (status !== undefined && isExpected(Number(status), url)) return;
    problems.push(`console.error: ${msg.text()} (${url})`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught exception: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`));
  page.on('request', (req) => {
    if (!req.url().startsWith(`${origin}/`) && !req.url().startsWith('data:')) problems.push(`request to another origin: ${req.method()} ${req.url()}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400 && !isExpected(res.status(), res.url())) problems.push(`HTTP ${res.status()}: ${res.request().method()} ${res.url()}`);
  });
  // Chromium also logs CSP violations to the console; the DOM event names the directive and what it blocked.
  await page.exposeBinding('__kvReportCspViolation', (_source, violation: string) => problems.push(`CSP violation: ${violation}`));
  await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) =>
    window.__kvReportCspViolation(e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber));`);
  return {
    problems,
    expectHttpError(status: number, url: string): void {
      expected.add(`${status} ${url}`);
    },
  };
}

/** The Swagger UI block of one operation. */
export function operationBlock(page: Page, method: string, path: string): Locator {
  return page
    .locator(`.opblock.opblock-${method.toLowerCase()}`)
    .filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
}

/** The operations Swagger UI rendered, as `METHOD /path`. */
export async function renderedOperations(page: Page): Promise<string[]> {
  const methods = await page.locator('.opblock .opblock-summary-method').allInnerTexts();
  const paths = await Promise.all((await page.locator('.opblock .opblock-summary-path').all()).map((p) => p.getAttribute('data-path')));
  return methods.map((method, i) => `${method.trim().toUpperCase()} ${paths[i]}`);
}

export interface LiveResponse {
  readonly status: number;
  readonly body: string;
  readonly requestUrl: string;
}

/**
 * Opens an operation, presses "Try it out", types the parameters (by name) and the JSON body, presses
 * "Execute" and returns the response Swagger UI renders (waiting until it shows this request's answer).
 */
export async function tryItOut(op: Locator, input: { params?: Record<string, string>; body?: string }): Promise<LiveResponse> {
  if (!(await op.locator('.opblock-body').isVisible())) await op.locator('.opblock-summary-control').click();
  const tryOut = op.locator('.try-out__btn');
  if ((await tryOut.innerText()).trim() === 'Try it out') await tryOut.click();
  for (const [name, value] of Object.entries(input.params ?? {})) {
    await op.locator(`tr[data-param-name="${name}"] input`).fill(value);
  }
  if (input.body !== undefined) await op.locator('textarea.body-param__text').fill(input.body);
  // A previous answer stays on screen until cleared: clear it, so what we read next is this request's answer.
  const clear = op.locator('button.btn-clear');
  if (await clear.isVisible()) await clear.click();
  await op.locator('.live-responses-table').waitFor({ state: 'detached' });
  await op.locator('button.execute').click();
  const live = op.locator('.live-responses-table .response').first();
  await live.waitFor();
  const status = Number((await live.locator('.response-col_status').innerText()).trim());
  const bodyBlock = live.locator('.response-col_description .highlight-code pre').first();
  const body = (await bodyBlock.count()) > 0 ? await bodyBlock.innerText() : '';
  const requestUrl = (await op.locator('.request-url pre').innerText()).trim();
  return { status, body, requestUrl };
}

/** Authorizes with a bearer token in the "Authorize" dialog and closes it. Returns the schemes the dialog offered. */
export async function authorizeBearer(page: Page, token: string): Promise<string[]> {
  await page.locator('.scheme-container .btn.authorize').click();
  const dialog = page.locator('.dialog-ux .modal-ux');
  await dialog.waitFor();
  const schemes = (await dialog.locator('.auth-container h4').allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim());
  // Matched by its heading: once authorized, the input is replaced by " ****** ".
  const bearer = dialog.locator('.auth-container').filter({ has: page.locator('h4 code', { hasText: /^bearer$/ }) });
  await bearer.locator('input[aria-label="auth-bearer-value"]').fill(token);
  await bearer.locator('button[aria-label="Apply credentials"]').click();
  await bearer.locator('button[aria-label="Remove authorization"]').waitFor();
  await bearer.locator('button.btn-done').click();
  await dialog.waitFor({ state: 'detached' });
  return schemes;
}

/**
 * After the page's load event: waits until Swagger UI has rendered its operations (the spec is inline in
 * swagger-ui-init.js, so nothing more is fetched). Returns at once if its bundle never loaded.
 */
export async function waitForOperations(page: Page, timeoutMs = 10_000): Promise<void> {
  if ((await page.evaluate('typeof SwaggerUIBundle')) !== 'function') return;
  await until(async () => (await page.locator('.opblock').count()) > 0, timeoutMs, 50);
}
