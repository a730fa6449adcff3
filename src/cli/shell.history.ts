import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Lines kept in memory and in the file. */
export const HISTORY_SIZE = 1000;

/** Lines that carry a credential are never written to disk, where it would outlive the session. */
const SECRET_LINE = /--(token|secret)\b/;

/** The history file: KV_HISTORY_FILE if set (empty: none), else ~/.kv_history. */
export function historyFileOf(env: NodeJS.ProcessEnv): string | undefined {
  if (env.KV_HISTORY_FILE !== undefined) return env.KV_HISTORY_FILE === '' ? undefined : env.KV_HISTORY_FILE;
  return join(homedir(), '.kv_history');
}

/** The saved history, newest first (readline's order); empty when there is none or it cannot be read. */
export function loadHistory(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .slice(-HISTORY_SIZE)
      .reverse();
  } catch {
    return [];
  }
}

/**
 * Returns a function that saves readline's history (newest first) to `file`, oldest line first. History is a
 * convenience: when the file cannot be written (read-only home, no home), saving stops quietly.
 */
export function historySaver(file: string): (history: readonly string[]) => void {
  let writable = true;
  return (history) => {
    if (!writable) return;
    const lines = history.filter((line) => !SECRET_LINE.test(line)).reverse();
    try {
      writeFileSync(file, lines.length > 0 ? `${lines.join('\n')}\n` : '', { mode: 0o600 });
    } catch {
      writable = false;
    }
  };
}
