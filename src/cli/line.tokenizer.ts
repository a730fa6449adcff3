import { CliError } from './cli.errors';

const SPACE = /\s/;

/**
 * Splits one line of the interactive shell (or of a script on stdin) into arguments, separated by whitespace.
 * An argument that starts with ' or " runs to the matching quote, so it may hold spaces; inside "..." a backslash
 * escapes " and \. A quote anywhere else is an ordinary character, which lets JSON typed without spaces arrive as
 * typed (`set user {"name":"ashish"}`) where a POSIX shell would strip its quotes.
 *
 * @throws CliError when a quote is not closed.
 */
export function splitLine(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  for (;;) {
    while (i < line.length && SPACE.test(line[i])) i++;
    if (i >= line.length) return words;
    let word = '';
    const quote = line[i];
    if (quote === '"' || quote === "'") {
      i++;
      for (;;) {
        if (i >= line.length) throw new CliError(`unterminated ${quote} quote`);
        const c = line[i++];
        if (c === quote) break;
        if (quote === '"' && c === '\\' && (line[i] === '"' || line[i] === '\\')) word += line[i++];
        else word += c;
      }
    }
    while (i < line.length && !SPACE.test(line[i])) word += line[i++];
    words.push(word);
  }
}
