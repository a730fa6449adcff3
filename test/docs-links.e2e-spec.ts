import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { documents, headingsOf, linksOf, readDoc, ROOT } from './helpers/markdown';

/*
 * The README is the way in and docs/ holds the rest, so a link that lands nowhere strands the reader. Every relative
 * link and #anchor of the documents must land on a file of this repository and on a heading of the Markdown file it
 * names (with GitHub's anchors), and so must every mention of a document with an anchor anywhere else in the
 * repository: the chart's runbook links, comments in the chart, the Jenkinsfile and the sources.
 */

/** The documents whose links are checked. */
const CHECKED = [...documents(), 'DEVELOPERS.md'];

/** What is wrong with a link to `target` written in the repository file `from`, or undefined when it lands. */
function problemOf(from: string, target: string): string | undefined {
  if (/^[a-z][a-z\d+.-]*:/i.test(target)) return undefined; // https:, mailto: and the like lead out on purpose
  const hash = target.indexOf('#');
  const [pathPart, anchor] = hash < 0 ? [target, undefined] : [target.slice(0, hash), target.slice(hash + 1)];
  if (pathPart.startsWith('/')) return 'an absolute path: write it relative to the document';
  const path = pathPart === '' ? from : normalize(join(dirname(from), decodeURI(pathPart)));
  if (path === '..' || path.startsWith('../')) return 'leads out of the repository';
  if (!existsSync(join(ROOT, path))) return `no such file: ${path}`;
  if (anchor === undefined) return undefined;
  if (!path.endsWith('.md')) return `an anchor into ${path}, which has no headings`;
  if (!headingsOf(readDoc(path)).some((h) => h.anchor === anchor)) return `${path} has no heading whose anchor is #${anchor}`;
  return undefined;
}

/** The repository's files as git sees them (tracked, and new ones not ignored), text only, but this one: it names broken links on purpose. */
function repositoryTextFiles(): string[] {
  const self = relative(ROOT, __filename);
  const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' });
  return listed
    .split('\0')
    .filter((path) => path !== '' && path !== self && existsSync(join(ROOT, path)))
    .filter((path) => !readFileSync(join(ROOT, path)).includes(0));
}

/**
 * Mentions of a document in any file, read from the repository's root: `docs/operations.md#memory-budget`,
 * `README.md`, and the same after a repository address's `/blob/main/` (the chart's runbook links).
 */
const MENTION = /(?:(?<![\w/.-])|(?<=\/blob\/main\/))((?:docs\/[\w-]+|README|DEVELOPERS)\.md)(?:#([\w-]+))?/g;

describe('links into the README and docs/', () => {
  it('finds broken links, anchors and paths out of the repository (the check bites)', () => {
    expect(problemOf('README.md', 'docs/api.md#consistency-model')).toBeUndefined();
    expect(problemOf('docs/cli.md', 'api.md#seed-compatible-routes')).toBeUndefined();
    expect(problemOf('docs/cli.md', '../helm/kv-store')).toBeUndefined();
    expect(problemOf('docs/cli.md', '#exit-codes')).toBeUndefined();
    expect(problemOf('README.md', '#consistency-model')).toBe('README.md has no heading whose anchor is #consistency-model');
    expect(problemOf('README.md', 'docs/nowhere.md')).toBe('no such file: docs/nowhere.md');
    expect(problemOf('README.md', '../shared/seeds/')).toBe('leads out of the repository');
    expect(problemOf('docs/api.md', 'api.md')).toBeUndefined();
    expect(problemOf('docs/api.md', 'docs/api.md')).toBe('no such file: docs/docs/api.md');
    const mentions = (text: string) => [...text.matchAll(MENTION)].map(([, doc, anchor]) => `${doc}#${anchor}`);
    expect(mentions('runbook_url: https://git.example.com/platform/kv-store/-/blob/main/docs/operations.md#kvstoreinstancedown')).toEqual(['docs/operations.md#kvstoreinstancedown']);
    expect(mentions('# see docs/operations.md#memory-budget, README.md#contents; not helm/README.md#x nor https://x.example/docs/a.md#b')).toEqual(['docs/operations.md#memory-budget', 'README.md#contents']);
  });

  it("makes anchors as GitHub does: rendered text, lower case, no punctuation, a hyphen per space, numbered repeats", () => {
    const markdown = ['# The `kv` command-line client', '## Snapshots (memory driver)', '```sh', '# not a heading', '```', '### Upgrade and rollback', '### Upgrade and rollback'].join('\n');
    expect(headingsOf(markdown).map((h) => h.anchor)).toEqual(['the-kv-command-line-client', 'snapshots-memory-driver', 'upgrade-and-rollback', 'upgrade-and-rollback-1']);
  });

  it.each(CHECKED)('%s: every relative link lands on a file and a heading', (doc) => {
    const problems = linksOf(readDoc(doc)).flatMap(({ target, line }) => {
      const problem = problemOf(doc, target);
      return problem ? [{ line, target, problem }] : [];
    });
    expect(problems).toEqual([]);
  });

  it.each(CHECKED)('%s: names no path outside the repository', (doc) => {
    const outside = [...readDoc(doc).matchAll(/(?<![\w./-])(?:\.\.\/)+[\w.-]*/g)].map(([path]) => path).filter((path) => problemOf(doc, path.replace(/\/$/, '') || '..') === 'leads out of the repository');
    expect(outside).toEqual([]);
  });

  it('links every document in docs/ from the README', () => {
    const linked = new Set(linksOf(readDoc('README.md')).map(({ target }) => normalize(target.split('#')[0])));
    expect(documents().filter((doc) => doc !== 'README.md' && !linked.has(doc))).toEqual([]);
  });

  it('resolves every mention of a document, and its anchor, anywhere in the repository (runbook links, comments)', () => {
    const problems = repositoryTextFiles().flatMap((file) => {
      const text = readFileSync(join(ROOT, file), 'utf8');
      return [...text.matchAll(MENTION)].flatMap((match) => {
        const problem = problemOf('.', match[2] === undefined ? match[1] : `${match[1]}#${match[2]}`);
        return problem ? [{ file, line: text.slice(0, match.index).split('\n').length, mention: match[0], problem }] : [];
      });
    });
    expect(problems).toEqual([]);
  });
});
