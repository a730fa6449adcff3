import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository's root. */
export const ROOT = join(__dirname, '..', '..');

/** The documents a reader is pointed to, as repository paths: the README, then docs/ in name order. */
export function documents(): string[] {
  const docs = readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md'));
  return ['README.md', ...docs.sort().map((name) => `docs/${name}`)];
}

/** The text of a repository file. */
export const readDoc = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** Each line of `markdown` with whether it is inside a fenced code block (the fences count as inside). */
function linesWithFences(markdown: string): Array<{ line: string; number: number; fenced: boolean }> {
  let fence: string | undefined;
  return markdown.split('\n').map((line, i) => {
    const opener = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    const fenced = fence !== undefined || opener !== undefined;
    if (fence === undefined && opener) fence = opener;
    else if (fence !== undefined && opener?.[0] === fence[0] && opener.length >= fence.length && line.trim() === opener) fence = undefined;
    return { line, number: i + 1, fenced };
  });
}

/**
 * GitHub's anchor of a heading: the text as rendered (code spans, links and emphasis reduced to their text),
 * lower case, punctuation dropped, every space a hyphen.
 */
export function anchorOf(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

export interface Heading {
  readonly level: number;
  readonly text: string;
  /** As GitHub makes it unique: the second heading of one anchor gets `-1`, the third `-2`. */
  readonly anchor: string;
}

/** The ATX headings (`## Text`) of a Markdown document, outside code blocks, in order. */
export function headingsOf(markdown: string): Heading[] {
  const seen = new Map<string, number>();
  return linesWithFences(markdown).flatMap(({ line, fenced }) => {
    const match = /^(#{1,6}) +(.+?)(?: +#+)? *$/.exec(line);
    if (fenced || !match) return [];
    const base = anchorOf(match[2]);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    return [{ level: match[1].length, text: match[2], anchor: count === 0 ? base : `${base}-${count}` }];
  });
}

export interface Link {
  readonly target: string;
  readonly line: number;
}

/** The targets of the inline links and link definitions of a Markdown document, outside code. */
export function linksOf(markdown: string): Link[] {
  return linesWithFences(markdown).flatMap(({ line, number, fenced }) => {
    if (fenced) return [];
    const text = line.replace(/(`+)[\s\S]*?\1/g, '');
    const inline = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]);
    const definition = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(text)?.[1];
    return [...inline, ...(definition ? [definition] : [])].map((target) => ({ target, line: number }));
  });
}

/** The section under the heading `text`: its own heading and everything up to the next one of its level or above. */
export function sectionOf(markdown: string, text: string): Heading[] {
  const headings = headingsOf(markdown);
  const start = headings.findIndex((h) => h.text === text);
  if (start < 0) return [];
  const end = headings.findIndex((h, i) => i > start && h.level <= headings[start].level);
  return headings.slice(start, end < 0 ? undefined : end);
}
