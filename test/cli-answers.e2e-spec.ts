import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { jsonLines, kv, type Result, setPairs, start, watchStreams } from './helpers/kv-cli';
import { killIfRunning, type ServerProcess, startServerProcess } from './helpers/server-process';
import { until } from './helpers/until';

// Every kv run is a fresh Node process: generous limits keep a loaded CI machine from failing the suite.
jest.setTimeout(45_000);

/**
 * An HTTP server on 127.0.0.1 that is not kv-store: under each first path segment, one kind of answer a wrong URL
 * gets. Records the requests it saw.
 */
async function startImpostor(): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const html = { 'Content-Type': 'text/html; charset=utf-8' };
  const json = { 'Content-Type': 'application/json' };
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    const kind = req.url?.split('/')[1];
    if (kind === 'html') res.writeHead(404, html).end('<!doctype html><title>Not Found</title><h1>Not Found</h1>');
    else if (kind === 'site') res.writeHead(200, html).end('<!doctype html><title>Welcome</title><h1>Welcome</h1>');
    else if (kind === 'json') res.writeHead(404, json).end('{"error":"no such thing"}');
    else if (kind === 'data') res.writeHead(200, json).end('{"ok":true}');
    else if (kind === 'moved') res.writeHead(301, { Location: 'https://kv.example.com/' }).end();
    // the request arrives in full, then the connection is lost before any answer
    else if (kind === 'lost') req.on('end', () => req.socket.destroy());
    else if (kind === 'gateway') res.writeHead(504, html).end('<!doctype html><title>504 Gateway Time-out</title><h1>504 Gateway Time-out</h1>');
    // an answer whose status arrives, then the connection is lost in its body
    else if (kind === 'cut') req.on('end', () => res.writeHead(Number(req.url?.split('/')[2]), json).write('{"key":', () => res.socket?.destroy()));
    // kv-store's answer for the first key, a proxy's page for the rest (below): `del` must stop at the second
    else if (kind === 'mixed' && req.method === 'DELETE' && req.url === '/mixed/keys/a') res.writeHead(204).end();
    else res.writeHead(502, { 'Content-Type': 'text/plain' }).end('Bad Gateway');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Lines of a script for the `kv` shell: every command whose 404 or 409 would be exit code 1, and the others. */
const EVERY_COMMAND = ['get k', 'get k1 k2', 'del k', 'ttl k', 'put k v', 'set k v --xx', 'set k v --nx', 'set k v', 'unsubscribe s', 'getall', 'search --prefix k', 'suball', 'watch'];

describe('kv tells kv-store from anything else, and a missing key from a wrong server', () => {
  let server: ServerProcess;
  let impostor: Awaited<ReturnType<typeof startImpostor>>;
  let env: Record<string, string>;

  beforeAll(async () => {
    [server, impostor] = await Promise.all([startServerProcess(), startImpostor()]);
    // No scheme: `localhost:8080` means http, as it does for curl.
    env = { KV_URL: server.url.replace(/^http:\/\//, '') };
  }, 30_000);

  afterAll(async () => {
    await killIfRunning(server);
    await impostor?.close();
  });

  it('exits 2 with "no kv-store at URL" for an HTML page, foreign JSON, a redirect, or a path kv-store has no route for', async () => {
    const bases = ['html', 'site', 'json', 'data', 'moved', 'text'].map((kind) => `${impostor.url}/${kind}`);
    // kv-store itself, but at a path it does not serve (no proxy strips /kv): its 404 is about the route, not a key
    bases.push(`${server.url}/kv`);
    const script = `${EVERY_COMMAND.join('\n')}\n`;
    const runs = await Promise.all(bases.map((url) => kv([], { KV_URL: url }, script)));
    runs.forEach((run, i) => {
      const where = bases[i].replace(/^http:\/\//, '');
      expect({ where, code: run.code, stdout: run.stdout }).toEqual({ where, code: 2, stdout: '' });
      const lines = run.stderr.trimEnd().split('\n');
      expect({ where, lines: lines.length }).toEqual({ where, lines: EVERY_COMMAND.length });
      for (const line of lines) expect(line).toMatch(new RegExp(`^kv: no kv-store at ${bases[i]}: .*; check --url or KV_URL$`));
    });
    const [html, site, json, data, moved, text, route] = runs.map((run) => run.stderr.split('\n')[0]);
    expect(html).toContain(': GET /html/keys/k answered 404 Not Found with an HTML page;');
    expect(site).toContain(': GET /site/keys/k answered 200 OK with an HTML page;');
    expect(json).toContain(': GET /json/keys/k answered 404 Not Found with JSON that is not kv-store\'s error: {"error":"no such thing"};');
    expect(data).toContain(': GET /data/keys/k answered 200 OK with JSON that is not a record: {"ok":true};');
    expect(moved).toContain(': GET /moved/keys/k was redirected to https://kv.example.com/ (301 Moved Permanently);');
    expect(text).toContain(': GET /text/keys/k answered 502 Bad Gateway with a text/plain body that is not JSON;');
    expect(route).toContain(': the server there has no route GET /kv/keys/k;');
    expect(runs[0].stderr.split('\n')[EVERY_COMMAND.indexOf('watch')]).toContain('GET /html/watch answered 404 Not Found');

    // the exit code of each command on its own, against the page that looks most like "not found"
    const alone = await Promise.all(['get k', 'del k', 'ttl k', 'put k v', 'set k v --nx', 'unsubscribe s'].map((c) => kv(c.split(' '), { KV_URL: `${impostor.url}/html` })));
    expect(alone.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2]);
    // ...while the real server's "not found" is 1
    const real = await Promise.all(['get k', 'del k', 'ttl k', 'put k v', 'set k v --xx'].map((c) => kv(c.split(' '), env)));
    expect(real).toEqual(real.map(() => ({ code: 1, stdout: '', stderr: 'kv: Key not found: k\n' })));
  });

  it('exits 3, "may have been applied", for a write sent but not answered (connection lost, a gateway\'s 504); 2 for a read, or a write never sent', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const nobody = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const [lostPut, lostSet, lostDel, gatewaySet, lostGet, gatewayGet, refusedPut, tlsPut, lostSubscribe, cutApplied, cutRefused, cutUnknown] = await Promise.all([
      kv(['put', 'k', 'v'], { KV_URL: `${impostor.url}/lost` }),
      kv(['set', 'k', 'v'], { KV_URL: `${impostor.url}/lost` }),
      kv(['del', 'k'], { KV_URL: `${impostor.url}/lost` }),
      kv(['set', 'k', 'v'], { KV_URL: `${impostor.url}/gateway` }),
      kv(['get', 'k'], { KV_URL: `${impostor.url}/lost` }),
      kv(['get', 'k'], { KV_URL: `${impostor.url}/gateway` }),
      kv(['put', 'k', 'v'], { KV_URL: nobody }),
      // https to a plain HTTP server: the TLS handshake fails before the request leaves
      kv(['put', 'k', 'v'], { KV_URL: `${impostor.url.replace(/^http:/, 'https:')}/lost` }),
      kv(['subscribe', '--url', 'http://127.0.0.1:9/hook'], { KV_URL: `${impostor.url}/lost` }),
      kv(['set', 'k', 'v'], { KV_URL: `${impostor.url}/cut/201` }),
      kv(['set', 'k', 'v'], { KV_URL: `${impostor.url}/cut/409` }),
      kv(['set', 'k', 'v'], { KV_URL: `${impostor.url}/cut/504` }),
    ]);
    for (const [run, command] of [
      [lostPut, 'put'],
      [lostSet, 'set'],
      [lostDel, 'del'],
    ] as const) {
      expect({ command, code: run.code }).toEqual({ command, code: 3 });
      expect(run.stderr).toMatch(new RegExp(`^kv: cannot reach the server at ${impostor.url}: .*; the write may have been applied: read the key before trying again\n$`));
    }
    expect(gatewaySet.code).toBe(3);
    expect(gatewaySet.stderr).toBe(
      'kv: POST /gateway/set answered 504 Gateway Timeout from a gateway, not from kv-store; the write may have been applied: read the key before trying again\n',
    );
    expect(lostGet.code).toBe(2);
    expect(lostGet.stderr).toMatch(/^kv: cannot reach the server at .*\n$/);
    expect(lostGet.stderr).not.toContain('may have been applied');
    expect(gatewayGet.code).toBe(2);
    expect(gatewayGet.stderr).toContain('no kv-store at');
    expect(refusedPut).toMatchObject({ code: 2, stderr: `kv: cannot reach the server at ${nobody}: ECONNREFUSED\n` });
    expect(tlsPut.code).toBe(2);
    expect(tlsPut.stderr).not.toContain('may have been applied');
    expect(lostSubscribe.code).toBe(3);
    expect(lostSubscribe.stderr).toMatch(/; the write may have been applied: list the subscriptions \(kv suball\) before trying again\n$/);
    // the status says what happened, although the body was lost
    expect(cutApplied.code).toBe(2);
    expect(cutApplied.stderr).toMatch(/broke while reading the answer to POST \/cut\/201\/set \(201: the write was applied\)\n$/);
    expect(cutRefused.code).toBe(2);
    expect(cutRefused.stderr).toMatch(/\(409: the write was not applied\)\n$/);
    expect(cutUnknown.code).toBe(3);
    expect(cutUnknown.stderr).toMatch(/\(504\); the write may have been applied: read the key before trying again\n$/);
  });

  it('keys . and .. work in every command (sent as %2E, which no URL normalisation drops)', async () => {
    const watcher = start(['subs', '.', '--json', '--count', '3'], env);
    await until(async () => (await watchStreams(server.url)) === 1, 10_000);
    const script = [
      'set . dot',
      'set .. "dot dot" --ttl 100',
      'get .',
      'get ..',
      'get .. . --json',
      'ttl .',
      'ttl ..',
      'put . 3',
      'search --prefix . --json',
      'del . ..',
      'get .',
    ];
    const run = await kv([], env, `${script.join('\n')}\n`);
    const [dot, dotdot, both, ttlDot, ttlDotdot, found] = run.stdout.split('\n').filter((l) => l !== 'OK');
    expect([dot, dotdot]).toEqual(['dot', 'dot dot']);
    expect(JSON.parse(both)).toEqual([expect.objectContaining({ key: '..', value: 'dot dot' }), expect.objectContaining({ key: '.', value: 'dot' })]);
    expect(ttlDot).toBe('none');
    expect(Number(ttlDotdot)).toBeGreaterThan(90);
    // the server holds exactly the keys "." and "..", read here through a query, not a path
    expect(JSON.parse(found)).toEqual(['.', '..']);
    expect(run.stdout.endsWith(`${found}\ndeleted 2 of 2 keys\n`)).toBe(true);
    expect(run.stderr).toBe('kv: Key not found: .\n');
    expect(run.code).toBe(1);
    // on the wire: percent-encoded, so no proxy on the way resolves them as path steps either
    const paths = server.lines.map((line) => /"url":"(\/keys\/[^"]*)"/.exec(line)?.[1]).filter((p) => p !== undefined);
    expect(paths).toEqual(expect.arrayContaining(['/keys/%2E', '/keys/%2E%2E']));
    expect(paths).not.toContain('/keys/.');

    const { code, stdout } = await watcher.exited;
    expect(code).toBe(0);
    expect(jsonLines(stdout).map((e) => [e.type, e.key, e.value])).toEqual([
      ['put', '.', 'dot'],
      ['put', '.', 3],
      ['delete', '.', undefined],
    ]);
  });

  it('get and del take several keys: answers in the order given, a line per missing key, exit code 1 if any', async () => {
    await setPairs(server.url, { 'm:a': 1, 'm:b': 'two', 'm:c': { three: 3 } });
    const [table, json, jsonMissing] = await Promise.all([
      kv(['get', 'm:b', 'm:missing', 'm:a', 'm:other'], env),
      kv(['get', 'm:c', 'm:a', '--json'], env),
      kv(['get', 'm:missing', 'm:a', '--json'], env),
    ]);
    expect(table.code).toBe(1);
    expect(table.stdout.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^KEY\s+VALUE\s+REVISION\s+EXPIRES AT$/),
      expect.stringMatching(/^m:b\s+"two"\s+\d+\s+-$/),
      expect.stringMatching(/^m:a\s+1\s+\d+\s+-$/),
      '(2 keys)',
    ]);
    expect(table.stderr).toBe('kv: Key not found: m:missing\nkv: Key not found: m:other\n');
    expect(json).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ key: 'm:c', value: { three: 3 } }), expect.objectContaining({ key: 'm:a', value: 1 })]);
    expect(jsonMissing).toMatchObject({ code: 1, stderr: 'kv: Key not found: m:missing\n' });
    expect(JSON.parse(jsonMissing.stdout)).toEqual([null, expect.objectContaining({ key: 'm:a' })]);

    const del = await kv(['del', 'm:a', 'm:missing', 'm:b'], env);
    expect(del).toEqual({ code: 1, stdout: 'deleted 2 of 3 keys\n', stderr: 'kv: Key not found: m:missing\n' });
    const [delJson, left] = await Promise.all([kv(['del', 'm:a', 'm:c', '--json'], env), kv(['get', 'm:a', 'm:b', 'm:c'], env)]);
    expect(left.code).toBe(1);
    expect(delJson).toEqual({ code: 1, stdout: '[{"key":"m:a","deleted":false},{"key":"m:c","deleted":true}]\n', stderr: 'kv: Key not found: m:a\n' });
  });

  it('a failure other than "not found" stops several keys at once: get prints nothing, del names where it stopped', async () => {
    const [get, del] = await Promise.all([
      kv(['get', 'a', 'b', 'c'], { KV_URL: `${impostor.url}/html` }),
      kv(['del', 'a', 'b', 'c'], { KV_URL: `${impostor.url}/mixed` }),
    ]);
    expect(get).toMatchObject({ code: 2, stdout: '' });
    expect(get.stderr).toMatch(/^kv: no kv-store at [^\n]*\n$/);
    expect(del).toMatchObject({ code: 2, stdout: '' });
    expect(del.stderr).toMatch(/^kv: no kv-store at .*DELETE \/mixed\/keys\/b answered 502 .* \(at key b, 2 of 3: the key before it was done; the rest were not tried\)\n$/);
    // c was never tried
    expect(impostor.requests.filter((r) => r.startsWith('DELETE /mixed/'))).toEqual(['DELETE /mixed/keys/a', 'DELETE /mixed/keys/b']);
  });

  it('ttl prints the seconds left, "none" without expiry, and exits 1 for a missing key', async () => {
    await setPairs(server.url, { 't:a': 1 }, undefined, '?ttl=100');
    await setPairs(server.url, { 't:b': 2 });
    const run: Result = await kv([], env, 'ttl t:a\nttl t:a --json\nttl t:b\nttl t:b --json\nttl t:missing\n');
    const [seconds, json, none, noneJson, ...rest] = run.stdout.split('\n');
    expect(Number(seconds)).toBeGreaterThanOrEqual(95);
    expect(Number(seconds)).toBeLessThanOrEqual(100);
    expect(JSON.parse(json)).toEqual({ key: 't:a', ttl: expect.any(Number), expiresAt: expect.any(String) });
    expect(none).toBe('none');
    expect(JSON.parse(noneJson)).toEqual({ key: 't:b', ttl: null, expiresAt: null });
    expect(rest).toEqual(['']);
    expect(run.stderr).toBe('kv: Key not found: t:missing\n');
    expect(run.code).toBe(1);
  });
});
