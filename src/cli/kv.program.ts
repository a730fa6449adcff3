import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CliError, EXIT_ERROR, EXIT_OK } from './cli.errors';
import { DEFAULT_SERVER_URL, KvHttpClient, MAX_PAGE_SIZE } from './kv-http.client';
import {
  type CommandContext,
  deleteKeys,
  getValues,
  listAll,
  listSubscriptions,
  search,
  setPair,
  subscribe,
  timeToLive,
  unsubscribe,
  watch,
} from './kv.commands';
import { Output, type OutputStreams } from './kv.output';
import { parseValue } from './value.parser';

/** Where to connect and how to print: from the command line, else the environment (or the shell's start-up line). */
export interface Settings {
  readonly url: string;
  readonly token?: string;
  /** Where `token` came from (`--token` or `KV_TOKEN`), for the hint when the server refuses it. */
  readonly tokenFrom?: string;
  readonly json: boolean;
}

export interface ProgramContext {
  readonly streams: OutputStreams;
  readonly env: NodeJS.ProcessEnv;
  /** What applies unless the command line says otherwise. */
  readonly defaults: Settings;
  /** Interrupts the running command (Ctrl-C). */
  readonly signal: AbortSignal;
  readonly version: string;
  /** Runs the interactive shell for `kv` without a command; absent inside the shell itself. */
  readonly startShell?: (settings: Settings) => Promise<number>;
}

/** The settings as the environment gives them, before any command-line option. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): Settings {
  const token = env.KV_TOKEN || undefined;
  return { url: env.KV_URL || DEFAULT_SERVER_URL, token, tokenFrom: token && 'KV_TOKEN', json: false };
}

/**
 * Runs one command line (`args` without the program name) and resolves with its exit code. Never throws: every
 * failure is printed as one line on stderr and mapped to an exit code (see cli.errors.ts).
 */
export async function runCommandLine(args: readonly string[], ctx: ProgramContext): Promise<number> {
  let exitCode = EXIT_OK;
  try {
    await buildProgram(ctx, (code) => (exitCode = code)).parseAsync([...args], { from: 'user' });
    return exitCode;
  } catch (error) {
    return report(error, ctx);
  }
}

interface ConnectionFlags {
  readonly url?: string;
  readonly token?: string;
  readonly json?: boolean;
}

interface PageFlags {
  readonly pageSize: number;
}

interface WatchFlags {
  readonly since?: number;
  readonly count?: number;
}

const ENVIRONMENT_HELP = `
Environment:
  KV_URL           server URL when --url is not given (default ${DEFAULT_SERVER_URL})
  KV_TOKEN         API key when --token is not given
  KV_HISTORY_FILE  history file of the interactive shell (default ~/.kv_history; empty: none)
  NO_COLOR         if set, no colours (they are only used when stdout is a terminal anyway)`;

const GENERAL_HELP = `
Values: a value is parsed as JSON when it is valid JSON (5 is a number, true a boolean, {"a":1} an object,
'"5"' the string 5), otherwise it is taken as a string (ashish). --string keeps it a string.

Global options (--url, --token, --json) go before the command or after it. After subscribe, --url is the
webhook's URL: give the server's before the command (kv --url <server> subscribe --url <webhook>) or in KV_URL.

The server URL may leave out http:// (--url localhost:8080). Any key works in every command, . and .. too.

Interactive mode: kv without a command opens a kv> prompt with the same commands, plus help, exit [code] and
quit (Tab completes commands and options, Ctrl-D leaves, Ctrl-C stops a running watch). When stdin is not a
terminal, kv reads the commands line by line, without prompts, and exits with the code of the last command
that failed (0 if none did), or with the code given to exit. Arguments with spaces are quoted with '...' or "...".
${ENVIRONMENT_HELP}

Exit codes:
  0  success
  1  the answer is no: the key (or subscription) is not there (get, del, ttl, put, set --xx, unsubscribe),
     or is there already (set --nx); with several keys, when any of them is missing
  2  anything else: usage error, server unreachable, no kv-store at the URL (a wrong address or path,
     another service, a proxy's page), refused credentials (401, 403), a 503 (nothing written), any other error
  3  a write's outcome is unknown (kv-store's 504, a gateway's 504, or the connection lost after the
     request went out): it may have been applied; read the key before trying again`;

const SHELL_HELP = `
In the shell: help [command]; exit [code] or quit (or Ctrl-D) to leave, with 0 unless a code is given;
Tab completes commands and options; Ctrl-C stops a running watch.`;

/** The help text after a command's options: examples, then an optional note. */
function examples(lines: readonly string[], note = ''): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n${note && `\n${note}\n`}`;
}

type KeyFilterFlags = { readonly key?: string; readonly prefix?: string; readonly suffix?: string };

function buildProgram(ctx: ProgramContext, setExitCode: (code: number) => void): Command {
  const program = new Command('kv')
    .description('Command-line client of kv-store: set, get, delete, list, search and watch keys, and manage webhooks.')
    .usage('[options] [command]')
    .version(ctx.version, '-V, --version', 'print the version of kv')
    .helpOption('-h, --help', 'show help; kv <command> --help shows one command')
    .helpCommand('help [command]', 'show help for a command')
    // Options after a command belong to it: subscribe's --url is the webhook, not the server.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.streams.stdout.write(text),
      writeErr: (text) => ctx.streams.stderr.write(text),
      outputError: usageError(),
    });
  withConnectionOptions(program, true);
  program.addHelpText('after', ctx.startShell ? `${GENERAL_HELP}\n${examples(ROOT_EXAMPLES)}` : SHELL_HELP);

  /**
   * Binds a command's action to its settings; `ownUrl` is false for subscribe, whose --url is the webhook. An action
   * that printed its answers and still failed in part (some of several keys missing) resolves with the exit code.
   */
  const run =
    <A extends unknown[]>(action: (cmd: CommandContext, ...args: A) => Promise<number | void>, ownUrl = true) =>
    async (cmd: Command, ...args: A): Promise<void> => {
      const exitCode = await action(commandContext(cmd, ctx, ownUrl), ...args);
      if (exitCode !== undefined) setExitCode(exitCode);
    };

  withValueOptions(
    program
      .command('set')
      .description('set a key to a value, creating or replacing it')
      .argument('<key>', 'the key: any text (quote it if it has spaces)')
      .argument('<value>', 'the value: JSON if it parses as JSON, else a string')
      .addOption(new Option('--nx', 'create only: fail with exit code 1 if the key exists').conflicts('xx'))
      .addOption(new Option('--xx', 'update only: fail with exit code 1 if the key is absent').conflicts('nx')),
  )
    .addHelpText(
      'after',
      examples(['kv set name ashish', 'kv set n 5', 'kv set user:42 \'{"name":"ashish"}\' --ttl 3600', 'kv set code 007 --string', 'kv set lock me --nx']),
    )
    .action((key: string, value: string, opts: SetFlags, cmd: Command) =>
      run(setPair)(cmd, key, parseValue(value, opts.string), { ttl: opts.ttl, nx: opts.nx, xx: opts.xx }),
    );

  withValueOptions(
    program
      .command('put')
      .description('update an existing key: fails with exit code 1 if it is absent (set --xx)')
      .argument('<key>', 'the key')
      .argument('<value>', 'the new value: JSON if it parses as JSON, else a string'),
  )
    .addHelpText('after', examples(['kv put name ashish-sharma', 'kv put counter 6']))
    .action((key: string, value: string, opts: SetFlags, cmd: Command) =>
      run(setPair)(cmd, key, parseValue(value, opts.string), { ttl: opts.ttl, xx: true }),
    );

  withConnectionOptions(
    program.command('get').description('print the value of one or more keys (exit code 1 if one is absent)').argument('<keys...>', 'the key, or several'),
  )
    .addHelpText('after', examples(['kv get name', 'kv get user:42 --json', 'kv get name user:42 missing'], GET_HELP))
    .action((keys: string[], _opts: unknown, cmd: Command) => run(getValues)(cmd, keys));

  withConnectionOptions(
    program.command('del').description('delete one or more keys (exit code 1 if one is absent)').argument('<keys...>', 'the key, or several'),
  )
    .addHelpText('after', examples(['kv del name', 'kv del a b c --json'], DEL_HELP))
    .action((keys: string[], _opts: unknown, cmd: Command) => run(deleteKeys)(cmd, keys));

  withConnectionOptions(program.command('ttl').description('print the seconds a key has left before it expires (exit code 1 if absent)').argument('<key>', 'the key'))
    .addHelpText('after', examples(['kv ttl session:1', 'kv ttl session:1 --json'], TTL_HELP))
    .action((key: string, _opts: unknown, cmd: Command) => run(timeToLive)(cmd, key));

  withConnectionOptions(withPageSize(program.command('getall').description('list every key with its value, in key order (all pages)')))
    .addHelpText('after', examples(['kv getall', 'kv getall --json'], 'With --json it prints one object of key to value, in key order.'))
    .action((opts: PageFlags, cmd: Command) => run(listAll)(cmd, opts.pageSize));

  withConnectionOptions(
    withPageSize(
      program
        .command('search')
        .description('list the keys that start with a prefix and/or end with a suffix, with their values (all pages)')
        .option('--prefix <text>', 'only keys that start with this')
        .option('--suffix <text>', 'only keys that end with this (with --prefix: keys that match both)'),
    ),
  )
    .addHelpText(
      'after',
      examples(
        ['kv search --prefix user:', 'kv search --suffix :profile', 'kv search --prefix abc --suffix -1 --json'],
        'With --json it prints a JSON array of the matching keys.',
      ),
    )
    .action((opts: PageFlags & KeyFilterFlags, cmd: Command) => run(search)(cmd, { prefix: opts.prefix, suffix: opts.suffix }, opts.pageSize));

  withConnectionOptions(
    withWatchOptions(
      withKeyFilterOptions(
        program
          .command('watch')
          .description('print changes as they happen, until Ctrl-C; reconnects and resumes without gaps when the connection drops'),
      ),
    ),
  )
    .addHelpText('after', examples(['kv watch', 'kv watch --prefix user:', 'kv watch --key name --json', 'kv watch --since 0 --count 10'], WATCH_HELP))
    .action((opts: WatchFlags & KeyFilterFlags, cmd: Command) =>
      run(watch)(cmd, { filter: { key: opts.key, prefix: opts.prefix, suffix: opts.suffix }, since: opts.since, count: opts.count }),
    );

  withConnectionOptions(
    withWatchOptions(
      program
        .command('subs')
        .description('print the changes of one key as they happen (watch --key <key>)')
        .argument('<key>', 'the key to follow'),
    ),
  )
    .addHelpText('after', examples(['kv subs name', 'kv subs name --json --count 1'], WATCH_HELP))
    .action((key: string, opts: WatchFlags, cmd: Command) => run(watch)(cmd, { filter: { key }, since: opts.since, count: opts.count }));

  withConnectionOptions(program.command('suball').description('list the webhook subscriptions and their delivery state (admin role)'))
    .addHelpText('after', examples(['kv suball', 'kv suball --json']))
    .action((_opts: unknown, cmd: Command) => run(listSubscriptions)(cmd));

  withConnectionOptions(
    withKeyFilterOptions(
      program
        .command('subscribe')
        .description('register a webhook: each matching change is POSTed to the URL, signed (admin role)')
        .requiredOption('--url <url>', 'the webhook URL (http or https) that receives each change as a JSON POST'),
    ).option('--secret <secret>', 'HMAC-SHA256 key for X-KV-Signature, 16 characters or more (default: generated by the server, shown once)'),
    false,
  )
    .addHelpText(
      'after',
      examples(
        [
          'kv subscribe --url https://hooks.example.com/kv --prefix user:',
          'KV_URL=http://kv:8080 kv subscribe --url https://hooks.example.com/kv --secret "$SECRET"',
          'kv --url http://kv:8080 subscribe --url https://hooks.example.com/kv --json',
        ],
        "Here --url is the webhook's URL: give the server's in KV_URL or before the command.",
      ),
    )
    .action((opts: KeyFilterFlags & { url: string; secret?: string }, cmd: Command) =>
      run(subscribe, false)(cmd, { url: opts.url, key: opts.key, prefix: opts.prefix, suffix: opts.suffix, secret: opts.secret }),
    );

  withConnectionOptions(
    program.command('unsubscribe').description('remove a webhook subscription (admin role)').argument('<id>', 'the subscription id (see suball)'),
  )
    .addHelpText('after', examples(['kv unsubscribe 0b0f7d8e-7d1a-4d8e-9a51-3f0f5b1c2d3e']))
    .action((id: string, _opts: unknown, cmd: Command) => run(unsubscribe)(cmd, id));

  // A usage error names where to read up on the command: `kv get --help`, or in the shell `help get`.
  for (const command of program.commands) command.configureOutput({ outputError: usageError(helpFor(ctx, command.name())) });

  // Set last: subcommands inherit it when created, and they must reject extra arguments.
  program.allowExcessArguments(true).action(async (_opts: unknown, cmd: Command) => {
    if (cmd.args.length > 0) program.error(`unknown command '${cmd.args[0]}' (${helpFor(ctx)})`, { code: 'commander.unknownCommand' });
    if (ctx.startShell) setExitCode(await ctx.startShell(settingsOf(cmd, ctx, true)));
    else program.error(`missing command (${helpFor(ctx)})`, { code: 'commander.missingArgument' });
  });
  return program;
}

/** Where help is: the shell has a help command, the command line --help. */
function helpFor(ctx: ProgramContext, command?: string): string {
  if (ctx.startShell) return command ? `see kv ${command} --help` : 'see kv --help';
  return command ? `type help ${command}` : 'type help for the commands';
}

/** Commander's error as one line, like every other error the client reports, with where to find help. */
function usageError(hint?: string): (text: string, write: (text: string) => void) => void {
  return (text, write) => write(`kv: ${text.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')}${hint ? ` (${hint})` : ''}\n`);
}

/**
 * The shell's vocabulary for Tab completion: each command with its options (help, exit and quit are the shell's
 * own). Read from the same program the commands run in, so it cannot miss one.
 */
export function commandOptions(): ReadonlyMap<string, readonly string[]> {
  const ignore = { write: () => true };
  const ctx: ProgramContext = { streams: { stdout: ignore, stderr: ignore }, env: {}, defaults: settingsFromEnv({}), signal: new AbortController().signal, version: '' };
  const program = buildProgram(ctx, () => undefined);
  return new Map(
    program.commands.map((command) => [command.name(), [...command.options.map((o) => o.long).filter((o) => o !== undefined), '--help'].sort()]),
  );
}

interface SetFlags {
  readonly ttl?: number;
  readonly nx?: boolean;
  readonly xx?: boolean;
  readonly string?: boolean;
}

const WATCH_HELP = `Each change prints as: <time> #<revision> <put|delete|expire> <key> [<value>]; with --json, one JSON object per line:
{"type","key","value"?,"prevValue"?,"keyspace","revision","time"}. When the connection drops or the server restarts,
watch reconnects and resumes after the last revision it received (Last-Event-ID), so nothing is missed or repeated.
If the server no longer has those changes, or has another history, watch says so ({"type":"reset","revision":N} with
--json) and carries on.`;

const GET_HELP = `With --json it prints the whole record: {key, value, revision, createdAt, updatedAt, expiresAt}.

With several keys it prints a table of the keys found, in the order given (--json: an array of records, null
for a missing key); each missing key is an error line on stderr, and the exit code is 1. The keys are read
each on its own, several at a time: not a snapshot, each value is the one of its own moment (the revisions
order them). Any other error (exit code 2) stops the command, and nothing is printed.`;

const DEL_HELP = `Several keys are deleted one after the other, in the order given, each on its own: not atomic, and another
client may see some deleted and others not yet. A missing key is an error line on stderr and exit code 1, and
the other keys are still deleted. Any other error (exit code 2) stops at its key: the keys before it were
deleted (or reported missing), the ones after it were not tried.
Prints OK for one key, "deleted N of M keys" for several; --json prints {"key","deleted"} for one key, an array
of them (in the order given) for several.`;

const TTL_HELP = `Prints the whole seconds left (0: it expires within the second), from the key's expiresAt and the server's
clock (its Date header), or "none" for a key without expiry. A missing key exits with code 1.
With --json it prints {"key","ttl","expiresAt"}: ttl in seconds, both null without expiry.`;

const ROOT_EXAMPLES = [
  'kv set name ashish',
  'kv get name',
  'kv put name ashish-sharma',
  'kv getall',
  'kv search --prefix user: --json',
  'kv watch --prefix user:',
  'KV_URL=https://kv.example.com KV_TOKEN=$KEY kv del name',
  "printf 'set a 1\\nget a\\n' | kv",
];

function withConnectionOptions(cmd: Command, serverUrl = true): Command {
  if (serverUrl) cmd.option('--url <url>', `server URL, http:// if no scheme is given (default: $KV_URL, else ${DEFAULT_SERVER_URL})`);
  return cmd
    .option('--token <key>', 'API key, sent as Authorization: Bearer <key> (default: $KV_TOKEN)')
    .option('--json', 'machine-readable output: one JSON document per command (watch: one JSON object per line)');
}

/** --ttl and --string, then the connection options: what set and put share. */
function withValueOptions(cmd: Command): Command {
  return withConnectionOptions(
    cmd
      .option('--ttl <seconds>', 'expire the key after this many seconds (without it, a write clears an earlier expiry)', integer('--ttl', 1))
      .option('--string', 'store the value as a string even if it is valid JSON'),
  );
}

/** At most one of --key, --prefix, --suffix (the server's rule for watches and webhooks). */
function withKeyFilterOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--key <key>', 'only this key').conflicts(['prefix', 'suffix']))
    .addOption(new Option('--prefix <text>', 'only keys that start with this').conflicts(['key', 'suffix']))
    .addOption(new Option('--suffix <text>', 'only keys that end with this').conflicts(['key', 'prefix']));
}

function withPageSize(cmd: Command): Command {
  const description = `keys fetched per request while following the pages (1 to ${MAX_PAGE_SIZE})`;
  return cmd.option('--page-size <n>', description, integer('--page-size', 1, MAX_PAGE_SIZE), 1000);
}

function withWatchOptions(cmd: Command): Command {
  return cmd
    .option('--since <revision>', 'first replay the changes after this revision that the server still keeps (0: all it keeps)', integer('--since', 0))
    .option('--count <n>', 'exit after printing this many changes', integer('--count', 1));
}

/** An option parser for whole numbers in [min, max]; commander reports its message as a usage error. */
function integer(flag: string, min: number, max = Number.MAX_SAFE_INTEGER): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}.`);
    }
    return n;
  };
}

/**
 * Options may come after the command (its own) or before it (the program's): the command's win, then the
 * program's, then the defaults. `ownUrl` is false for subscribe, whose --url is the webhook.
 */
function settingsOf(cmd: Command, ctx: ProgramContext, ownUrl: boolean): Settings {
  const own = cmd.opts<ConnectionFlags>();
  const global = cmd.parent?.opts<ConnectionFlags>() ?? {};
  const token = own.token ?? global.token;
  return {
    url: (ownUrl ? own.url : undefined) ?? global.url ?? ctx.defaults.url,
    ...(token === undefined ? { token: ctx.defaults.token, tokenFrom: ctx.defaults.tokenFrom } : { token, tokenFrom: '--token' }),
    json: Boolean(own.json || global.json || ctx.defaults.json),
  };
}

function commandContext(cmd: Command, ctx: ProgramContext, ownUrl: boolean): CommandContext {
  const { url, token, tokenFrom, json } = settingsOf(cmd, ctx, ownUrl);
  return {
    client: new KvHttpClient(url, token ? { token, from: tokenFrom ?? '--token' } : undefined),
    out: new Output(json, ctx.streams, ctx.env),
    signal: ctx.signal,
  };
}

function report(error: unknown, ctx: ProgramContext): number {
  // Commander has printed its own message (usage errors) or the help; only the exit code is left to decide.
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_ERROR;
  const out = new Output(false, ctx.streams, ctx.env);
  if (error instanceof CliError) {
    out.error(error.message);
    return error.exitCode;
  }
  if (ctx.signal.aborted) {
    out.error('interrupted');
    return EXIT_ERROR;
  }
  out.error(error instanceof Error ? error.message : String(error));
  return EXIT_ERROR;
}
