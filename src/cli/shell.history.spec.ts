import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HISTORY_SIZE, historyFileOf, historySaver, loadHistory } from './shell.history';

describe('shell history', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'kv-history-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('lives in ~/.kv_history unless KV_HISTORY_FILE names another file, or is empty for none', () => {
    expect(historyFileOf({})).toBe(join(homedir(), '.kv_history'));
    expect(historyFileOf({ KV_HISTORY_FILE: '/somewhere/else' })).toBe('/somewhere/else');
    expect(historyFileOf({ KV_HISTORY_FILE: '' })).toBeUndefined();
  });

  it('saves oldest first and loads newest first, as readline keeps it, without blank lines', () => {
    const file = join(dir, 'history');
    historySaver(file)(['get b', 'set a 1']);
    expect(readFileSync(file, 'utf8')).toBe('set a 1\nget b\n');
    writeFileSync(file, 'set a 1\n\n   \nget b\n');
    expect(loadHistory(file)).toEqual(['get b', 'set a 1']);
  });

  it(`keeps the newest ${HISTORY_SIZE} lines of a longer file`, () => {
    const file = join(dir, 'history');
    writeFileSync(file, `${Array.from({ length: HISTORY_SIZE + 5 }, (_, i) => `get k${i}`).join('\n')}\n`);
    const loaded = loadHistory(file);
    expect(loaded).toHaveLength(HISTORY_SIZE);
    expect(loaded[0]).toBe(`get k${HISTORY_SIZE + 4}`);
    expect(loaded.at(-1)).toBe('get k5');
  });

  it('never writes a line that carries --token or --secret, and keeps the file private', () => {
    const file = join(dir, 'history');
    historySaver(file)(['subscribe --url http://h/x --secret s3cr3t-value', 'get --token abc k', 'get k', 'watch --tokenless']);
    const text = readFileSync(file, 'utf8');
    expect(text).toBe('watch --tokenless\nget k\n');
    expect(text).not.toMatch(/s3cr3t|abc/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('reads a missing file as no history, and stops saving quietly where it cannot write', () => {
    expect(loadHistory(join(dir, 'missing'))).toEqual([]);
    const file = join(dir, 'no-such-dir', 'history');
    const save = historySaver(file);
    // A directory that does not exist cannot be written into by anyone (root included, unlike a read-only file).
    expect(() => save(['get k'])).not.toThrow();
    // Once refused, it stops trying for the session (no failing write per line typed), even where it could now.
    mkdirSync(join(dir, 'no-such-dir'));
    expect(() => save(['get k', 'get j'])).not.toThrow();
    expect(existsSync(file)).toBe(false);
  });
});
