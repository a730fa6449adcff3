#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runShell } from './kv.shell';
import { commandOptions, type ProgramContext, runCommandLine, settingsFromEnv } from './kv.program';
import { historyFileOf } from './shell.history';

/**
 * `kv`: the command-line client of kv-store. A plain Node program (no Nest, nothing of the server): it speaks only
 * HTTP, so it works against any kv-store, local or remote.
 */
async function main(): Promise<void> {
  const controller = new AbortController();
  // The first Ctrl-C (or SIGTERM) ends the running command cleanly (a watch exits 0); `once`, so a second one kills.
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  // `kv getall | head` closes the pipe early: that is the reader's choice, not an error worth a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });

  const env = process.env;
  const streams = { stdout: process.stdout, stderr: process.stderr };
  const context: ProgramContext = {
    streams,
    env,
    defaults: settingsFromEnv(env),
    signal: controller.signal,
    version: packageVersion(),
    startShell: (settings) =>
      runShell({
        input: process.stdin,
        streams,
        env,
        historyFile: historyFileOf(env),
        serverUrl: settings.url,
        signal: controller.signal,
        run: (args, signal) => runCommandLine(args, { ...context, defaults: settings, signal, startShell: undefined }),
        commands: commandOptions(),
      }),
  };
  process.exitCode = await runCommandLine(process.argv.slice(2), context);
  process.off('SIGINT', interrupt);
  process.off('SIGTERM', interrupt);
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

void main();
