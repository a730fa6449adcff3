import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestApp, type TestApp } from './helpers/test-app';

const run = promisify(execFile);

interface Example {
  readonly command: string;
  readonly expected: string;
}

/** Every `$ command` in the README's console blocks, with the lines it shows as output. */
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

const ISO_TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/g;
// Blank lines are dropped on both sides: the README's blocks leave them out (SSE frames end with one).
const normalise = (text: string): string =>
  text
    .replace(/\r/g, '')
    .replace(ISO_TIME, '<time>')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .join('\n');

describe('README examples', () => {
  let t: TestApp;
  const examples = readmeExamples();

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('has examples to check', () => {
    expect(examples.length).toBeGreaterThanOrEqual(15);
    expect(examples.every((e) => e.command.startsWith('curl ') && e.command.includes('localhost:8080'))).toBe(true);
  });

  // In order, on one fresh server: later examples build on earlier ones (revisions, keys).
  it('produce the output the README shows', async () => {
    const port = new URL(t.url).port;
    for (const { command, expected } of examples) {
      const { stdout } = await run('bash', ['-c', command.replaceAll('localhost:8080', `127.0.0.1:${port}`)]);
      expect({ command, output: normalise(stdout) }).toEqual({ command, output: normalise(expected) });
    }
  });
});
