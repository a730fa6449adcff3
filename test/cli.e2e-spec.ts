import http from 'node:http';
import { freePort } from './helpers/free-port';
import { jsonLines, kv, setPairs, start, watchStreams } from './helpers/kv-cli';
import { type RedisServer, startRedisServer, uniquePrefix } from './helpers/redis-server';
import { killIfRunning, type ServerProcess, startServerProcess } from './helpers/server-process';
import { until } from './helpers/until';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver';

const KEYS = {
  read: 'read-key-0123456789abcdef',
  write: 'write-key-0123456789abcdef',
  admin: 'admin-key-0123456789abcdef',
};
const API_KEYS = Object.entries(KEYS)
  .map(([role, key]) => `${role}:${key}`)
  .join(',');

// Every kv run is a fresh Node process: generous limits keep a loaded CI machine from failing the suite.
jest.setTimeout(45_000);

describe('kv, the command-line client (built dist/cli/kv.js against a real server)', () => {
  let server: ServerProcess;
  let receiver: WebhookReceiver;
  let env: Record<string, string>;

  beforeAll(async () => {
    [server, receiver] = await Promise.all([
      startServerProcess({ WATCH_HISTORY: '16', WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' }),
      startWebhookReceiver(),
    ]);
    env = { KV_URL: server.url };
  }, 30_000);

  afterAll(async () => {
    await killIfRunning(server);
    await receiver?.close();
  });

  it('documents every command and option in --help, with examples', async () => {
    const commands = ['set', 'put', 'get', 'del', 'ttl', 'getall', 'search', 'watch', 'subs', 'suball', 'subscribe', 'unsubscribe'];
    // One process for the commands' help: the scripted shell runs `<command> --help` like the command line does.
    const [root, set, all] = await Promise.all([kv(['--help']), kv(['set', '--help']), kv([], {}, commands.map((c) => `${c} --help\n`).join(''))]);
    expect(root.code).toBe(0);
    for (const c of commands) expect(root.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    for (const text of ['--url', '--token', '--json', 'KV_URL', 'KV_TOKEN', 'Exit codes', 'Interactive mode', 'Examples']) {
      expect(root.stdout).toContain(text);
    }
    expect(set).toMatchObject({ code: 0, stderr: '' });
    expect(set.stdout).toMatch(/^Usage: kv set \[options\] <key> <value>\n/);
    for (const option of ['--ttl <seconds>', '--nx', '--xx', '--string', 'Examples:']) expect(set.stdout).toContain(option);
    expect(all).toMatchObject({ code: 0, stderr: '' });
    const pages = all.stdout.split(/^(?=Usage: kv )/m);
    expect(pages.map((p) => /^Usage: kv (\S+)/.exec(p)?.[1])).toEqual(commands);
    for (const page of pages) {
      expect(page).toContain('Examples:');
      // every option line carries a description
      const options = page.split('Options:\n')[1].split('\n\n')[0].split('\n').filter((l) => /^\s+-/.test(l));
      expect(options.length).toBeGreaterThanOrEqual(3);
      for (const line of options) expect(line).toMatch(/^\s+-\S.*\s{2,}\S/);
    }
    expect(pages[commands.indexOf('watch')]).toMatch(/--key[\s\S]*--prefix[\s\S]*--suffix[\s\S]*--since[\s\S]*--count/);
    // several keys: what is atomic, what is not, and how the exit codes combine
    expect(pages[commands.indexOf('get')]).toMatch(/Usage: kv get \[options\] <keys\.\.\.>[\s\S]*exit code is 1[\s\S]*not a snapshot[\s\S]*exit code 2/);
    expect(pages[commands.indexOf('del')]).toMatch(/Usage: kv del \[options\] <keys\.\.\.>[\s\S]*not atomic[\s\S]*exit code 1[\s\S]*exit code 2/);
    expect(pages[commands.indexOf('ttl')]).toMatch(/"none" for a key without expiry[\s\S]*missing key exits with code 1/);
  });

  it('set, get, put and del a key, parsing values as JSON unless they are not (or --string)', async () => {
    const human = await kv([], env, [
      'set cli:name ashish',
      'set cli:n 5',
      'set cli:neg -5',
      'set cli:s 5 --string',
      'set cli:obj {"a":[1,true,null]}',
      'set cli:t soon --ttl 60',
      "set 'team/a b?' true",
      'get cli:name',
      'get cli:obj',
      'put cli:name ashish-sharma',
      'get cli:name',
      'set cli:other x --nx',
      '',
    ].join('\n'));
    // strings print bare (for $(kv get name)), other values as JSON; no colours off a terminal
    expect(human).toEqual({ code: 0, stdout: 'OK\nOK\nOK\nOK\nOK\nOK\nOK\nashish\n{"a":[1,true,null]}\nOK\nashish-sharma\nOK\n', stderr: '' });

    const json = await kv(['--json'], env, ['cli:name', 'cli:n', 'cli:neg', 'cli:s', 'cli:obj', 'cli:t', "'team/a b?'"].map((k) => `get ${k}\n`).join('') + 'set cli:x 1\n');
    expect(json).toMatchObject({ code: 0, stderr: '' });
    const [name, n, neg, s, obj, t, odd, set] = jsonLines(json.stdout);
    expect(name).toEqual({ key: 'cli:name', value: 'ashish-sharma', revision: expect.any(Number), keyspace: expect.any(String), createdAt: expect.any(String), updatedAt: expect.any(String), expiresAt: null });
    expect([n.value, neg.value, s.value, obj.value, odd]).toEqual([5, -5, '5', { a: [1, true, null] }, expect.objectContaining({ key: 'team/a b?', value: true })]);
    expect(t.expiresAt).toEqual(expect.any(String));
    expect(set).toEqual({ status: 'success', message: 'key-value pair is set successfully' });

    const [absent, exists, xx, got, del] = await Promise.all([
      kv(['put', 'cli:absent', '1'], env),
      kv(['set', 'cli:name', 'x', '--nx'], env),
      kv(['set', 'cli:none', 'x', '--xx'], env),
      kv(['get', 'cli:n'], env),
      kv(['del', 'cli:x', '--json'], env),
    ]);
    expect(absent).toEqual({ code: 1, stdout: '', stderr: 'kv: Key not found: cli:absent\n' });
    expect(exists).toEqual({ code: 1, stdout: '', stderr: 'kv: Key already exists: cli:name\n' });
    expect(xx).toEqual({ code: 1, stdout: '', stderr: 'kv: Key not found: cli:none\n' });
    expect(got).toEqual({ code: 0, stdout: '5\n', stderr: '' });
    expect(del).toEqual({ code: 0, stdout: '{"key":"cli:x","deleted":true}\n', stderr: '' });
    const [delAgain, getGone] = await Promise.all([kv(['del', 'cli:x'], env), kv(['get', 'cli:x'], env)]);
    expect(delAgain).toEqual({ code: 1, stdout: '', stderr: 'kv: Key not found: cli:x\n' });
    expect(getGone).toEqual({ code: 1, stdout: '', stderr: 'kv: Key not found: cli:x\n' });
  });

  it('getall and search follow the pages to the end, in key order, as a table or as JSON', async () => {
    const pairs = Object.fromEntries(Array.from({ length: 23 }, (_, i) => [`pg:${String(i).padStart(2, '0')}${i % 2 ? ':odd' : ''}`, i]));
    await setPairs(server.url, { ...pairs, 'pg:10': { nested: ['x'] }, 'pg:9': '__proto__' });
    const before = server.lines.length;
    const [all, found, table] = await Promise.all([
      kv(['getall', '--json', '--page-size', '7'], env),
      kv(['search', '--prefix', 'pg:', '--page-size', '3', '--json'], env),
      kv([], env, 'search --prefix pg: --page-size 5\nsearch --prefix nothing-here:\nsearch --prefix nothing-here: --json\nsearch --prefix pg:1 --suffix :odd --json\n'),
    ]);
    // The server's own unpaged answers are the reference, byte for byte.
    expect(all).toMatchObject({ code: 0, stderr: '' });
    expect(all.stdout).toBe(`${await (await fetch(`${server.url}/?limit=10000`)).text()}\n`);
    expect(found.stdout).toBe(`${await (await fetch(`${server.url}/search?prefix=pg:&limit=10000`)).text()}\n`);
    expect(JSON.parse(found.stdout)).toHaveLength(24);
    // ...and it did take many pages: 24 keys by 3 is at least 8 requests, 7 of them with a cursor
    const cursorRequests = () => server.lines.slice(before).filter((l) => l.includes('/keys?') && l.includes('limit=3') && l.includes('after=')).length;
    await until(() => cursorRequests() >= 7, 2000);
    expect(cursorRequests()).toBeGreaterThanOrEqual(7);

    expect(table).toMatchObject({ code: 0, stderr: '' });
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^KEY\s+VALUE\s+REVISION\s+EXPIRES AT$/);
    expect(lines[1]).toMatch(/^pg:00\s+0\s+\d+\s+-$/);
    expect(lines.find((l) => l.startsWith('pg:10 '))).toMatch(/\{"nested":\["x"\]\}/);
    expect(lines.slice(25)).toEqual(['(24 keys)', '(no keys)', '[]', '["pg:11:odd","pg:13:odd","pg:15:odd","pg:17:odd","pg:19:odd"]']);
    expect(table.stdout).not.toContain('\u001b[');
  });

  it('exits 2 with one line on stderr for usage errors, bad input and an unreachable server', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const cases = await Promise.all([
      kv(['get'], env),
      kv(['frobnicate'], env),
      kv(['set', 'k', 'v', '--ttl', 'soon'], env),
      kv(['set', 'k', 'v', '--nx', '--xx'], env),
      kv(['get', 'k'], { KV_URL: nobody }),
      kv(['--url', nobody, 'getall']),
      kv(['watch'], { KV_URL: nobody }),
      kv(['get', 'k'], { KV_URL: 'not a url' }),
      kv(['set', 'x'.repeat(2000), '1'], env),
    ]);
    const unreachable = new RegExp(`^kv: cannot reach the server at ${nobody}: ECONNREFUSED$`);
    const messages = [
      /^kv: missing required argument 'keys' \(see kv get --help\)$/,
      /^kv: unknown command 'frobnicate' \(see kv --help\)$/,
      /^kv: option '--ttl <seconds>' argument 'soon' is invalid\. --ttl must be a whole number.* \(see kv set --help\)$/,
      /^kv: option '--(nx|xx)' cannot be used with option '--(nx|xx)' \(see kv set --help\)$/,
      unreachable,
      unreachable,
      unreachable,
      /^kv: invalid server URL "not a url"/,
      /^kv: .*key/i,
    ];
    cases.forEach((r, i) => {
      expect({ i, code: r.code, stdout: r.stdout }).toEqual({ i, code: 2, stdout: '' });
      const lines = r.stderr.trimEnd().split('\n');
      expect({ i, lines: lines.length }).toEqual({ i, lines: 1 });
      expect(lines[0]).toMatch(messages[i]);
    });
  });

  it('runs commands from stdin, one per line, with quotes, and exits with the last failure', async () => {
    const script = [
      'set sc:a 1',
      'get sc:a',
      '# a comment, then a blank line',
      '',
      'set "sc:b c" "hello world"',
      "get 'sc:b c'",
      'set sc:j {"x":[1,2]}',
      'get sc:j',
      'get sc:missing',
      'search --prefix sc: --json',
      'del sc:a',
    ].join('\n');
    const run = await kv([], env, `${script}\n`);
    expect(run.stdout).toBe(['OK', '1', 'OK', 'hello world', 'OK', '{"x":[1,2]}', '["sc:a","sc:b c","sc:j"]', 'OK', ''].join('\n'));
    expect(run.stderr).toBe('kv: Key not found: sc:missing\n');
    expect(run.code).toBe(1);

    // the last failure decides; exit stops reading; global options given with no command apply to every line
    const [lastFailure, exit, json] = await Promise.all([
      kv([], env, 'get sc:missing\nset "broken 1\nget sc:j\n'),
      kv([], env, 'get sc:j\nexit\nget sc:missing\n'),
      kv(['--json'], env, 'get sc:j\nsearch --prefix "sc:b"\n'),
    ]);
    expect(lastFailure).toEqual({ code: 2, stdout: '{"x":[1,2]}\n', stderr: 'kv: Key not found: sc:missing\nkv: unterminated " quote\n' });
    expect(exit).toEqual({ code: 0, stdout: '{"x":[1,2]}\n', stderr: '' });
    expect(json).toMatchObject({ code: 0, stderr: '' });
    expect(jsonLines(json.stdout)).toEqual([expect.objectContaining({ key: 'sc:j', value: { x: [1, 2] }, revision: expect.any(Number) }), ['sc:b c']]);
  });

  it('in the shell, points usage errors at help, and exit leaves with 0 or the code it is given', async () => {
    const [hinted, exitAfterFailure, quitWithCode] = await Promise.all([
      kv([], env, 'gett\nget\nset k\nget sc:j --frob\nhelp get\nexit 4\nget never-run\n'),
      kv([], env, 'get sc:missing\nexit\n'),
      kv([], env, 'quit 0x\nquit 3\n'),
    ]);
    expect(hinted.stderr.split('\n')).toEqual([
      "kv: unknown command 'gett' (type help for the commands)",
      "kv: missing required argument 'keys' (type help get)",
      "kv: missing required argument 'value' (type help set)",
      "kv: unknown option '--frob' (type help get)",
      '',
    ]);
    expect(hinted.stdout).toMatch(/^Usage: kv get \[options\] <keys\.\.\.>/);
    expect(hinted.code).toBe(4);
    expect(exitAfterFailure).toEqual({ code: 0, stdout: '', stderr: 'kv: Key not found: sc:missing\n' });
    expect(quitWithCode).toEqual({ code: 3, stdout: '', stderr: 'kv: quit takes one exit code, a whole number from 0 to 255 (type help)\n' });
  });

  it('subs and watch print changes live, one JSON object per line, and stop after --count', async () => {
    const subs = start(['subs', 'live:k', '--json', '--count', '2'], env);
    const human = start(['watch', '--prefix', 'live:', '--count', '1'], env);
    await until(async () => (await watchStreams(server.url)) === 2, 10_000);
    await setPairs(server.url, { key: 'live:other', value: 0 });
    await setPairs(server.url, { key: 'live:k', value: { v: 1 } });
    await fetch(`${server.url}/keys/live%3Ak`, { method: 'DELETE' });
    const [s, h] = await Promise.all([subs.exited, human.exited]);
    expect(s.code).toBe(0);
    const events = jsonLines(s.stdout);
    expect(events).toEqual([
      { type: 'put', key: 'live:k', value: { v: 1 }, keyspace: expect.any(String), revision: expect.any(Number), time: expect.any(String) },
      { type: 'delete', key: 'live:k', prevValue: { v: 1 }, keyspace: expect.any(String), revision: expect.any(Number), time: expect.any(String) },
    ]);
    expect(events[1].revision).toBe((events[0].revision as number) + 1);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^\S+Z #\d+ put\s+live:other 0\n$/);
    expect(h.stderr).toContain('watching prefix "live:"');
    await until(async () => (await watchStreams(server.url)) === 0, 5000);
  });

  it('watch says so when the history it asks for is gone (event: reset), then carries on', async () => {
    await setPairs(server.url, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`old:${i}`, i])));
    const json = start(['watch', '--since', '1', '--json', '--count', '1'], env);
    const human = start(['watch', '--since', '1', '--count', '1'], env);
    await until(async () => (await watchStreams(server.url)) === 2, 10_000);
    await setPairs(server.url, { key: 'after-reset', value: true });
    const [j, h] = await Promise.all([json.exited, human.exited]);
    const lines = jsonLines(j.stdout);
    expect(j.code).toBe(0);
    expect(lines).toEqual([{ type: 'reset', revision: expect.any(Number) }, expect.objectContaining({ type: 'put', key: 'after-reset' })]);
    expect(h.code).toBe(0);
    expect(h.stderr).toMatch(/the server no longer keeps the changes to resume from \(reset to revision \d+\): re-read the keys you follow/);
    expect(h.stdout).toMatch(/put\s+after-reset true\n$/);
    await until(async () => (await watchStreams(server.url)) === 0, 5000);
  });

  it('subscribe, suball and unsubscribe manage webhooks that deliver', async () => {
    const [created, generated] = await Promise.all([
      kv(['subscribe', '--url', receiver.url, '--prefix', 'hook:', '--secret', 'a-long-shared-secret', '--json'], env),
      // a generated secret is shown once, in human output too
      kv(['subscribe', '--url', receiver.url, '--key', 'hook:2'], env),
    ]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    const subscription = JSON.parse(created.stdout) as { id: string; url: string; filter: unknown };
    expect(subscription).toMatchObject({ id: expect.any(String), url: receiver.url, filter: { prefix: 'hook:' } });
    expect(subscription).not.toHaveProperty('secret');
    expect(generated).toMatchObject({ code: 0, stderr: '' });
    expect(generated.stdout).toMatch(/^subscribed \S+: key "hook:2" → http:\/\/127\.0\.0\.1:\d+\/hook\nsecret: \S+ {2}\(shown only now/);
    const generatedId = /^subscribed (\S+):/.exec(generated.stdout)![1];

    const listing = await kv([], env, 'suball --json\nsuball\nset hook:1 42\n');
    expect(listing).toMatchObject({ code: 0, stderr: '' });
    const [listed, ...table] = listing.stdout.trimEnd().split('\n');
    expect(JSON.parse(listed)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: subscription.id, url: receiver.url, filter: { prefix: 'hook:' }, pending: expect.any(Number) }),
        expect.objectContaining({ id: generatedId, filter: { key: 'hook:2' } }),
      ]),
    );
    expect(table[0]).toMatch(/^ID\s+FILTER\s+DELIVERED\s+PENDING\s+FAILURES\s+DEAD\s+URL$/);
    expect(table).toContainEqual(expect.stringMatching(new RegExp(`^${subscription.id}  prefix "hook:"\\s+-\\s+0\\s+0\\s+0\\s+${receiver.url}$`)));
    expect(table.at(-1)).toBe('OK');
    await receiver.waitFor((r) => r.length >= 1, 10_000);
    expect(receiver.received[0].body).toMatchObject({ type: 'put', key: 'hook:1', value: 42 });

    expect(await Promise.all([kv(['unsubscribe', subscription.id], env), kv(['unsubscribe', generatedId, '--json'], env)])).toEqual([
      { code: 0, stdout: 'OK\n', stderr: '' },
      { code: 0, stdout: `{"id":"${generatedId}","deleted":true}\n`, stderr: '' },
    ]);
    const [again, empty] = await Promise.all([kv(['unsubscribe', subscription.id], env), kv(['suball'], env)]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^kv: .*\n$/);
    expect(empty).toEqual({ code: 0, stdout: '(no subscriptions)\n', stderr: '' });
  });
});

describe('kv with API keys (Authorization: Bearer)', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServerProcess({ API_KEYS, WEBHOOK_MAX_SUBSCRIPTIONS: '1', WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' });
  }, 30_000);

  afterAll(() => killIfRunning(server));

  it('sends --token or KV_TOKEN, and exits 2 when refused, saying which of them to fix', async () => {
    const env = { KV_URL: server.url };
    const [noKey, unknown, readWrites, write, override, watchNoKey, writeAdmin, admin, readWatch] = await Promise.all([
      kv(['get', 'a'], env),
      kv(['get', 'a', '--token', 'not-a-key-0123456789abcdef'], env),
      kv(['set', 'auth:a', '1'], { ...env, KV_TOKEN: KEYS.read }),
      kv(['set', 'auth:a', '1'], { ...env, KV_TOKEN: KEYS.write }),
      kv(['--token', KEYS.write, 'set', 'auth:b', '2'], { ...env, KV_TOKEN: KEYS.read }),
      kv(['watch'], env),
      kv(['suball', '--token', KEYS.write], env),
      kv(['suball', '--json'], { ...env, KV_TOKEN: KEYS.admin }),
      kv(['watch', '--since', '0', '--count', '1', '--json'], { ...env, KV_TOKEN: KEYS.read }),
    ]);
    // the server's words are about headers: the CLI's say which option or variable to fix
    expect(noKey).toEqual({ code: 2, stdout: '', stderr: 'kv: the server requires an API key: give one in --token <key> or KV_TOKEN\n' });
    expect(unknown).toEqual({
      code: 2,
      stdout: '',
      stderr: 'kv: Unknown API key (the key from --token): give a valid one in --token <key> or KV_TOKEN\n',
    });
    expect(readWrites).toEqual({
      code: 2,
      stdout: '',
      stderr: 'kv: This API key has the read role; this needs write (the key from KV_TOKEN): give one with that role in --token <key> or KV_TOKEN\n',
    });
    expect(write).toEqual({ code: 0, stdout: 'OK\n', stderr: '' });
    expect(override).toEqual({ code: 0, stdout: 'OK\n', stderr: '' });
    expect(watchNoKey).toEqual({ code: 2, stdout: '', stderr: noKey.stderr });
    expect(writeAdmin).toEqual({
      code: 2,
      stdout: '',
      stderr: 'kv: This API key has the write role; this needs admin (the key from --token): give one with that role in --token <key> or KV_TOKEN\n',
    });
    expect(admin).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
    expect(readWatch.code).toBe(0);
    expect(jsonLines(readWatch.stdout)).toEqual([expect.objectContaining({ type: 'put', key: expect.stringMatching(/^auth:/) })]);
    expect(await (await fetch(`${server.url}/get/auth:b`, { headers: { Authorization: `Bearer ${KEYS.read}` } })).json()).toEqual({ key: 'auth:b', value: 2 });
  });

  it('exits 2, not 1, for a 409 that is no "already exists" (the subscription limit)', async () => {
    const env = { KV_URL: server.url, KV_TOKEN: KEYS.admin };
    const first = await kv(['subscribe', '--url', 'http://127.0.0.1:9/hook'], env);
    expect(first.code).toBe(0);
    const second = await kv(['subscribe', '--url', 'http://127.0.0.1:9/other'], env);
    expect(second).toEqual({ code: 2, stdout: '', stderr: expect.stringMatching(/^kv: WEBHOOK_MAX_SUBSCRIPTIONS=1 subscriptions exist.*\n$/) });
  });
});

describe('kv watch across a server restart (Redis driver: revisions carry on)', () => {
  let redis: RedisServer;
  let first: ServerProcess | undefined;
  let second: ServerProcess | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    await killIfRunning(first);
    await killIfRunning(second);
    await redis?.stop();
  });

  it('reconnects and resumes with Last-Event-ID: both sides of the restart, in order, nothing twice', async () => {
    const port = String(await freePort());
    const serverEnv = { PORT: port, STORE_DRIVER: 'redis', REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix() };
    first = await startServerProcess(serverEnv);
    const url = first.url;
    const watcher = start(['watch', '--prefix', 'rs:', '--json'], { KV_URL: url });
    await until(async () => (await watchStreams(url)) === 1, 10_000);
    await setPairs(url, { key: 'rs:before', value: 1 });
    await until(() => watcher.stdout().includes('rs:before'), 5000);

    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    second = await startServerProcess(serverEnv);
    // Written at once, most likely while the watcher is still waiting to reconnect: it must come as a replay.
    await setPairs(url, { 'rs:during': 2, 'other:x': 0 });
    await until(() => watcher.stdout().includes('rs:during'), 15_000);
    await setPairs(url, { key: 'rs:after', value: 3 });
    await until(() => watcher.stdout().includes('rs:after'), 5000);

    watcher.child.kill('SIGINT');
    const { code, stdout, stderr } = await watcher.exited;
    expect(code).toBe(0);
    const events = jsonLines(stdout);
    expect(events.map((e) => [e.type, e.key, e.value])).toEqual([
      ['put', 'rs:before', 1],
      ['put', 'rs:during', 2],
      ['put', 'rs:after', 3],
    ]);
    const revisions = events.map((e) => e.revision as number);
    expect(revisions[1]).toBeGreaterThan(revisions[0]);
    expect(revisions[2]).toBeGreaterThan(revisions[1]);
    expect(stderr).toContain('the server is shutting down');
    const resumedAfter = Number(/reconnected, resuming after revision (\d+)/.exec(stderr)?.[1]);
    expect(resumedAfter).toBeGreaterThanOrEqual(revisions[0]);
    expect(resumedAfter).toBeLessThan(revisions[1]);
  }, 40_000);
});

describe('kv watch resumes from the exact position the server sent', () => {
  let server: ServerProcess | undefined;
  let standIn: http.Server | undefined;
  let watcher: ReturnType<typeof start> | undefined;

  afterAll(async () => {
    watcher?.child.kill('SIGKILL');
    await killIfRunning(server);
    standIn?.closeAllConnections();
    await new Promise((resolve) => (standIn ? standIn.close(resolve) : resolve(null)));
  });

  it('sends back <keyspace>:<revision> as Last-Event-ID, so a server with another history resets it instead of replaying', async () => {
    const port = await freePort();
    server = await startServerProcess({ PORT: String(port) });
    const url = server.url;
    const running = start(['watch', '--json'], { KV_URL: url });
    watcher = running;
    await until(async () => (await watchStreams(url)) === 1, 10_000);
    await setPairs(url, { a: 1, b: 2 });
    await until(() => jsonLines(running.stdout()).length === 2, 5000);
    const last = jsonLines(running.stdout())[1];
    expect(last).toMatchObject({ key: 'b', keyspace: expect.stringMatching(/^[0-9a-f]{12}$/), revision: 2 });

    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    // What answers on the port now records where the client asks to resume from (a bare 2 would be read as revision 2
    // of whatever keyspace that server has: another history under the same numbers).
    const resumedFrom: (string | undefined)[] = [];
    standIn = http.createServer((req, res) => {
      resumedFrom.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('retry: 60000\n: connected\n\n');
    });
    await new Promise<void>((resolve) => standIn!.listen(port, '127.0.0.1', resolve));
    await until(() => resumedFrom.length === 1, 15_000);
    expect(resumedFrom[0]).toBe(`${last.keyspace}:2`);
    // The notice follows the stand-in's answer: wait for it rather than race it with the interrupt.
    await until(() => running.stderr().includes('reconnected, resuming after revision 2'), 15_000);

    running.child.kill('SIGINT');
    const { code } = await running.exited;
    expect(code).toBe(0);
  });
});
