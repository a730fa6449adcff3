import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KV } from './helpers/kv-cli';
import { documents, readDoc } from './helpers/markdown';
import { startTestApp } from './helpers/test-app';

const execFileAsync = promisify(execFile);

interface Example {
  readonly document: string;
  readonly command: string;
  readonly expected: string;
}

/** Every `$ command` (curl, or the built `kv` CLI) in a document's console blocks, with the lines it shows as output. */
function examplesOf(document: string): Example[] {
  const examples: Example[] = [];
  for (const [, block] of readDoc(document).matchAll(/```console\n([\s\S]*?)```/g)) {
    let current: { command: string; output: string[] } | undefined;
    for (const line of block.split('\n')) {
      if (line.startsWith('$ ')) {
        if (current) examples.push({ document, command: current.command, expected: current.output.join('\n') });
        current = { command: line.slice(2), output: [] };
      } else if (current && line !== '') {
        current.output.push(line);
      }
    }
    if (current) examples.push({ document, command: current.command, expected: current.output.join('\n') });
  }
  return examples;
}

/** The document whose examples this one's continue, on the same server: `<!-- examples continue docs/api.md -->`. */
const continued = (document: string): string | undefined => /^<!-- examples continue (\S+) -->$/m.exec(readDoc(document))?.[1];

/**
 * The documents with examples, grouped into runs: each run is a document and the ones that continue it, in order, on
 * one fresh server of its own.
 */
function runsOf(docs: string[]): string[][] {
  const runs = docs.filter((doc) => continued(doc) === undefined).map((doc) => [doc]);
  for (const chain of runs) {
    for (;;) {
      const next = docs.filter((doc) => continued(doc) === chain.at(-1));
      if (next.length > 1) throw new Error(`${next.join(' and ')} both continue ${chain.at(-1)}: only one can`);
      if (next.length === 0) break;
      chain.push(next[0]);
    }
  }
  return runs;
}

/** How many examples the README had when it held them all, before docs/ took most of them: none may be lost. */
const EXAMPLES_BEFORE_DOCS = 41;

/** The keyspace id the examples show. */
const DOCS_KEYSPACE = '5f0c2a9be41d';

const ISO_TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/g;
// Blank lines are dropped on both sides: the documents' blocks leave them out (SSE frames end with one).
const normalise = (text: string): string =>
  text
    .replace(/\r/g, '')
    .replace(ISO_TIME, '<time>')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .join('\n');

/** A command runs kv when its first word, or the first word after a pipe, is `kv`. */
const runsKv = (command: string): boolean => /(^|\|\s*)kv\s/.test(command);

describe('examples in the README and docs/', () => {
  const docs = documents();
  const examples = docs.flatMap(examplesOf);
  const runs = runsOf(docs.filter((doc) => examplesOf(doc).length > 0 || continued(doc) !== undefined));
  let bin: string;

  beforeAll(() => {
    // `kv` on the PATH of the examples is the built CLI, as `npm link` would make it.
    bin = mkdtempSync(join(tmpdir(), 'kv-readme-'));
    writeFileSync(join(bin, 'kv'), `#!/bin/sh\nexec '${process.execPath}' '${KV}' "$@"\n`);
    chmodSync(join(bin, 'kv'), 0o755);
  });
  afterAll(() => rmSync(bin, { recursive: true, force: true }));

  it('has examples to check, no fewer than the README had alone', () => {
    const counts = docs.map((doc) => `${doc} ${examplesOf(doc).length}`).join(', ');
    console.log(`${examples.length} examples (${examples.filter((e) => runsKv(e.command)).length} kv, ${examples.filter((e) => !runsKv(e.command)).length} curl): ${counts}`);
    expect(examples.length).toBeGreaterThanOrEqual(EXAMPLES_BEFORE_DOCS);
    expect(examplesOf('README.md').length).toBeGreaterThan(0);
    // curl names the server; kv finds it in KV_URL (or is given --url localhost:8080)
    expect(examples.filter((e) => !runsKv(e.command)).filter((e) => !(e.command.startsWith('curl ') && e.command.includes('localhost:8080')))).toEqual([]);
    expect(examples.filter((e) => runsKv(e.command)).length).toBeGreaterThanOrEqual(15);
  });

  it('runs every document that has examples, each once, continuing only documents that exist', () => {
    const withExamples = docs.filter((doc) => examplesOf(doc).length > 0);
    expect(runs.flat().sort()).toEqual(docs.filter((doc) => withExamples.includes(doc) || continued(doc) !== undefined).sort());
    for (const doc of docs.filter((d) => continued(d) !== undefined)) expect({ doc, continues: docs.includes(continued(doc)!) }).toEqual({ doc, continues: true });
  });

  // In order, on one fresh server per run: later examples build on earlier ones (revisions, keys).
  it.each(runs.map((run) => [run.join(' → '), run] as const))('%s: produce the output they show', async (_, run) => {
    const t = await startTestApp();
    try {
      const address = new URL(t.url).host;
      // The documents show one keyspace id; every server begins its own.
      const keyspace = ((await (await fetch(`${t.url}/health/ready`)).json()) as { details: { store: { keyspace: string } } }).details.store.keyspace;
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, KV_URL: t.url, KV_TOKEN: '', KV_HISTORY_FILE: '', NO_COLOR: '1' };
      for (const { document, command, expected } of run.flatMap(examplesOf)) {
        const { stdout } = await execFileAsync('bash', ['-c', command.replaceAll('localhost:8080', address).replaceAll(DOCS_KEYSPACE, keyspace)], { env });
        // The documents show the address they told the reader to use.
        const output = normalise(stdout.replaceAll(address, 'localhost:8080').replaceAll(keyspace, DOCS_KEYSPACE));
        expect({ document, command, output }).toEqual({ document, command, output: normalise(expected) });
      }
    } finally {
      await t.close();
    }
  });
});
