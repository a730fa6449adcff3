import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KV } from './helpers/kv-cli';
import { startTestApp, type TestApp } from './helpers/test-app';

const run = promisify(execFile);

interface Example {
  readonly command: string;
  readonly expected: string;
}

/** Every `$ command` (curl, or the built `kv` CLI) in the README's console blocks, with the lines it shows as output. */
function readmeExamples(): Example[] {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
  const examples: Example[] = [];
  for (const [, block] of readme.matchAll(/```console\n([\s\S]*?)```/g)) {
    let current: { command: string; output: string[] } | undefined;
    for (const line of block.split('\n')) {
      if (line.startsWith('$ ')) {
        if (current) examples.push({ command: current.command, expected: current.output.join('\n') });
        current = { command: line.slice(2), output: [] };
      } else if (current && line !== '') {
        current.output.push(line);
      }
    }
    if (current) examples.push({ command: current.command, expected: current.output.join('\n') });
  }
  return examples;
}

/** The keyspace id the README's examples show. */
const README_KEYSPACE = '5f0c2a9be41d';

const ISO_TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/g;
// Blank lines are dropped on both sides: the README's blocks leave them out (SSE frames end with one).
const normalise = (text: string): string =>
  text
    .replace(/\r/g, '')
    .replace(ISO_TIME, '<time>')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .join('\n');

/** A command runs kv when its first word, or the first word after a pipe, is `kv`. */
const runsKv = (command: string): boolean => /(^|\|\s*)kv\s/.test(command);

describe('README examples', () => {
  let t: TestApp;
  let bin: string;
  const examples = readmeExamples();

  beforeAll(async () => {
    t = await startTestApp();
    // `kv` on the PATH of the examples is the built CLI, as `npm link` would make it.
    bin = mkdtempSync(join(tmpdir(), 'kv-readme-'));
    writeFileSync(join(bin, 'kv'), `#!/bin/sh\nexec '${process.execPath}' '${KV}' "$@"\n`);
    chmodSync(join(bin, 'kv'), 0o755);
  });
  afterAll(async () => {
    await t.close();
    rmSync(bin, { recursive: true, force: true });
  });

  it('has examples to check', () => {
    expect(examples.length).toBeGreaterThanOrEqual(15);
    // curl names the server; kv finds it in KV_URL (or is given --url localhost:8080)
    expect(examples.filter((e) => !runsKv(e.command)).every((e) => e.command.startsWith('curl ') && e.command.includes('localhost:8080'))).toBe(true);
    expect(examples.filter((e) => runsKv(e.command)).length).toBeGreaterThanOrEqual(15);
  });

  // In order, on one fresh server: later examples build on earlier ones (revisions, keys).
  it('produce the output the README shows', async () => {
    const address = new URL(t.url).host;
    // The README shows one keyspace id; every server begins its own.
    const keyspace = ((await (await fetch(`${t.url}/health/ready`)).json()) as { details: { store: { keyspace: string } } }).details.store.keyspace;
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, KV_URL: t.url, KV_TOKEN: '', KV_HISTORY_FILE: '', NO_COLOR: '1' };
    for (const { command, expected } of examples) {
      const { stdout } = await run('bash', ['-c', command.replaceAll('localhost:8080', address).replaceAll(README_KEYSPACE, keyspace)], { env });
      // The README shows the address it told the reader to use.
      const output = normalise(stdout.replaceAll(address, 'localhost:8080').replaceAll(keyspace, README_KEYSPACE));
      expect({ command, output }).toEqual({ command, output: normalise(expected) });
    }
  });
});
