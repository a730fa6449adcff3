import { createInterface } from 'node:readline';
import { CliError, EXIT_ERROR, EXIT_OK } from './cli.errors';
import { Output, type OutputStreams } from './kv.output';
import { splitLine } from './line.tokenizer';
import { HISTORY_SIZE, historySaver, loadHistory } from './shell.history';

export interface ShellOptions {
  readonly input: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  /** Prompts and echo go to `streams.stdout`, which must then be a real stream (process.stdout). */
  readonly streams: OutputStreams & { readonly stdout: NodeJS.WritableStream };
  readonly env: NodeJS.ProcessEnv;
  /** Where history is kept across sessions (interactive mode only); undefined keeps none. */
  readonly historyFile: string | undefined;
  /** Shown in the greeting. */
  readonly serverUrl: string;
  /** Ends the shell (SIGTERM, or Ctrl-C of a script). */
  readonly signal: AbortSignal;
  /** Runs one command line and resolves with its exit code. */
  readonly run: (args: string[], signal: AbortSignal) => Promise<number>;
  /** The commands, each with its options, for Tab completion. */
  readonly commands: ReadonlyMap<string, readonly string[]>;
}

const EXIT_WORDS = new Set(['exit', 'quit']);
/** The shell's own words, besides the commands. */
const SHELL_WORDS = ['help', ...EXIT_WORDS];

/**
 * The `kv>` prompt, or, when stdin is not a terminal, a script runner: one command per line, run one after the
 * other, blank lines and `#` comments skipped. Resolves with the exit code of the last command that failed (0 if
 * none did), so `printf 'set a 1\nget a\n' | kv` can be checked like a single command.
 */
export async function runShell(options: ShellOptions): Promise<number> {
  const interactive = options.input.isTTY === true;
  const out = new Output(false, options.streams, options.env);
  const rl = createInterface({
    input: options.input,
    output: interactive ? options.streams.stdout : undefined,
    terminal: interactive,
    prompt: 'kv> ',
    history: interactive && options.historyFile !== undefined ? loadHistory(options.historyFile) : [],
    historySize: interactive ? HISTORY_SIZE : 0,
    removeHistoryDuplicates: true,
    completer: completer(options.commands),
  });
  if (interactive && options.historyFile !== undefined) rl.on('history', historySaver(options.historyFile));

  let running: AbortController | undefined;
  // Ctrl-C stops the running command (typically a watch) and keeps the shell; at the prompt it drops the line.
  rl.on('SIGINT', () => {
    if (running) return running.abort();
    rl.write(null, { ctrl: true, name: 'e' });
    rl.write(null, { ctrl: true, name: 'u' });
    options.streams.stdout.write('\n');
    rl.prompt();
  });
  // Ctrl-D leaves even while a watch runs. A script's end of input only means no more lines: what is queued still runs.
  if (interactive) rl.on('close', () => running?.abort());
  const stop = () => rl.close();
  options.signal.addEventListener('abort', stop);

  if (interactive) {
    out.line(`kv shell for ${options.serverUrl}. Type help for the commands, exit or Ctrl-D to leave.`);
    rl.prompt();
  }
  let exitCode = EXIT_OK;
  try {
    for await (const line of rl) {
      if (options.signal.aborted) break;
      const result = await runLine(line, options, out, (controller) => (running = controller));
      running = undefined;
      if (typeof result === 'object') {
        exitCode = result.exit;
        break;
      }
      if (result !== EXIT_OK) exitCode = result;
      if (interactive) rl.prompt();
    }
  } finally {
    options.signal.removeEventListener('abort', stop);
    rl.close();
  }
  return exitCode;
}

async function runLine(
  line: string,
  options: ShellOptions,
  out: Output,
  setRunning: (controller: AbortController) => void,
): Promise<number | { readonly exit: number }> {
  let words: string[];
  try {
    words = splitLine(line);
  } catch (error) {
    out.error((error as CliError).message);
    return EXIT_ERROR;
  }
  if (words.length === 0 || words[0].startsWith('#')) return EXIT_OK;
  if (EXIT_WORDS.has(words[0])) {
    // Leaving on purpose is no failure: 0 unless a code is given (sh's exit would pass on the last command's status).
    const code = words.length === 1 ? EXIT_OK : words.length === 2 && /^\d{1,3}$/.test(words[1]) ? Number(words[1]) : NaN;
    if (code <= 255) return { exit: code };
    out.error(`${words[0]} takes one exit code, a whole number from 0 to 255 (type help)`);
    return EXIT_ERROR;
  }
  const controller = new AbortController();
  setRunning(controller);
  return options.run(words, AbortSignal.any([options.signal, controller.signal]));
}

/**
 * Tab completion: the first word from the commands and the shell's own words, the word after `help` from the
 * commands, and a word that starts with `-` from the options of the line's command. A single match is completed
 * with a space after it; several are listed by readline.
 */
export function completer(commands: ReadonlyMap<string, readonly string[]>): (line: string) => [string[], string] {
  const firstWords = [...commands.keys(), ...SHELL_WORDS].sort();
  return (line) => {
    const words = line.trimStart().split(/\s+/);
    const word = words[words.length - 1];
    let candidates: readonly string[] = [];
    if (words.length === 1) candidates = firstWords;
    else if (words.length === 2 && words[0] === 'help') candidates = [...commands.keys()];
    else if (word.startsWith('-')) candidates = commands.get(words[0]) ?? [];
    const hits = candidates.filter((candidate) => candidate.startsWith(word));
    return [hits.length === 1 ? [`${hits[0]} `] : hits, word];
  };
}
