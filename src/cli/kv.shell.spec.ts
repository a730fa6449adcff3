import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { commandOptions } from './kv.program';
import { completer, runShell } from './kv.shell';

/** The shell on a pretend terminal: what it ran, what it printed, and a way to type into it. */
function terminal(exitCodes: Record<string, number> = {}) {
  const input = Object.assign(new PassThrough(), { isTTY: true });
  const stdout = new PassThrough();
  let printed = '';
  let errors = '';
  stdout.setEncoding('utf8').on('data', (text: string) => (printed += text));
  const ran: string[][] = [];
  const done = runShell({
    input,
    streams: { stdout, stderr: { write: (text: string) => (errors += text) } },
    env: { NO_COLOR: '1' },
    historyFile: undefined,
    serverUrl: 'http://127.0.0.1:1',
    signal: new AbortController().signal,
    run: (args) => {
      ran.push(args);
      return Promise.resolve(exitCodes[args.join(' ')] ?? 0);
    },
    commands: commandOptions(),
  });
  return {
    ran,
    done,
    printed: () => printed,
    errors: () => errors,
    /** Types `keys` one chunk at a time, as a person would, letting readline act on each. */
    async type(...keys: string[]): Promise<void> {
      for (const key of keys) {
        input.write(key);
        await sleep(5);
      }
    },
    /** Ctrl-D, as far as readline can tell. */
    end: () => input.end(),
  };
}

describe('the kv shell', () => {
  const complete = completer(commandOptions());

  it('completes the first word from the commands and its own words, then options of the line\'s command', () => {
    expect(complete('ge')).toEqual([['get', 'getall'], 'ge']);
    expect(complete('geta')).toEqual([['getall '], 'geta']);
    expect(complete('  tt')).toEqual([['ttl '], 'tt']);
    expect(complete('s')).toEqual([['search', 'set', 'suball', 'subs', 'subscribe'], 's']);
    expect(complete('ex')).toEqual([['exit '], 'ex']);
    expect(complete('')[0]).toEqual(expect.arrayContaining(['del', 'get', 'getall', 'help', 'quit', 'ttl', 'unsubscribe', 'watch']));
    expect(complete('help wa')).toEqual([['watch '], 'wa']);
    expect(complete('set k v --t')).toEqual([['--token', '--ttl'], '--t']);
    expect(complete('watch --s')).toEqual([['--since', '--suffix'], '--s']);
    expect(complete('get k1 --j')).toEqual([['--json '], '--j']);
    // arguments are the user's own: nothing to offer
    expect(complete('get na')).toEqual([[], 'na']);
    expect(complete('frob --j')).toEqual([[], '--j']);
  });

  it('completes with Tab at the prompt', async () => {
    const shell = terminal();
    // `g` is get or getall: Tab completes what they share, and the space is typed
    await shell.type('g', '\t', ' k1 --js', '\t', '\r', 'tt', '\t', 'k1\r', 'help wat', '\t', '\r', 'exit\r');
    expect(await shell.done).toBe(0);
    expect(shell.ran).toEqual([
      ['get', 'k1', '--json'],
      ['ttl', 'k1'],
      ['help', 'watch'],
    ]);
    expect(shell.printed()).toContain('kv> ');
  });

  it('exits 0 on exit whatever failed before, with the code given to exit, and refuses other arguments', async () => {
    const plain = terminal({ 'get missing': 1 });
    await plain.type('get missing\r', 'exit\r');
    expect(await plain.done).toBe(0);

    const coded = terminal();
    await coded.type('exit 300\r', 'exit x\r', 'exit 1 2\r', 'quit 3\r');
    expect(await coded.done).toBe(3);
    expect(coded.errors()).toBe(
      [1, 2, 3].map(() => 'kv: exit takes one exit code, a whole number from 0 to 255 (type help)\n').join(''),
    );
  });

  it('without exit, ends with the code of the last command that failed (end of input)', async () => {
    const shell = terminal({ 'get missing': 1 });
    await shell.type('get missing\r', 'get there\r');
    shell.end();
    expect(await shell.done).toBe(1);
    expect(shell.ran).toEqual([['get', 'missing'], ['get', 'there']]);
  });
});
