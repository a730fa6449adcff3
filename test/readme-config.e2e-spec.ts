import { EnvironmentVariables, validateEnvironment } from '../src/config/env.validation';
import { documents, readDoc } from './helpers/markdown';

/** The document that lists every setting: the one place the README and the other docs point to for them. */
const CONFIGURATION = 'docs/configuration.md';
const TABLE_HEADER = '| variable | default | meaning |';

/** The configuration table, row by row: [variable, default column]. */
function documentedSettings(): [string, string][] {
  const doc = readDoc(CONFIGURATION);
  const table = doc.slice(doc.indexOf(TABLE_HEADER)).split('\n');
  return table
    .slice(2, table.findIndex((line) => !line.startsWith('|')))
    .map((line) => {
      const [, name, defaults] = line.split('|').map((cell) => cell.trim());
      return [name.replace(/`/g, ''), defaults];
    });
}

/** Settings without a default of their own: what the row says instead, and what the server derives. */
const DERIVED: Record<string, { documented: string; from: (env: EnvironmentVariables) => number; alsoWith: Record<string, string> }> = {
  KV_MAX_BODY_BYTES: {
    documented: 'value + key limit + 64 KiB',
    from: (env) => env.KV_MAX_VALUE_BYTES + env.KV_MAX_KEY_BYTES + 64 * 1024,
    alsoWith: { KV_MAX_VALUE_BYTES: '2048', KV_MAX_KEY_BYTES: '16' },
  },
};

/** What a size or a duration in parentheses after a default stands for: `(1 MiB)`, `(5 min)`. */
const UNITS: Record<string, number> = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, s: 1000, min: 60_000 };

describe(`the configuration table (${CONFIGURATION})`, () => {
  const settings = new EnvironmentVariables() as unknown as Record<string, unknown>;

  it('is the only table of settings in the README and docs/', () => {
    expect(documents().filter((doc) => readDoc(doc).includes(TABLE_HEADER))).toEqual([CONFIGURATION]);
  });

  it('lists every setting the service reads, in the order env.validation.ts groups them', () => {
    expect(documentedSettings().map(([name]) => name)).toEqual(Object.keys(settings));
  });

  it.each(documentedSettings())('states the real default of %s', (name, documented) => {
    const actual = settings[name];
    if (actual === undefined) {
      expect(documented).toBe(DERIVED[name]?.documented);
      return;
    }
    // The whole cell: the default itself (or "empty"), then at most its size or duration, or "(off)".
    const cell = /^(?:`([^`]*)`|(empty))(?: \((?:(\d+) (KiB|MiB|GiB|s|min)|(off))\))?$/.exec(documented);
    expect({ name, cell: documented, parses: cell !== null }).toEqual({ name, cell: documented, parses: true });
    const [, value, empty, amount, unit] = cell!;
    if (actual === '') expect(empty).toBe('empty');
    else expect(value).toBe(String(actual));
    if (amount !== undefined) expect(Number(amount) * UNITS[unit]).toBe(actual);
  });

  it.each(Object.entries(DERIVED))('derives %s as its row says, from the defaults and from other values', (name, { from, alsoWith }) => {
    for (const raw of [{}, alsoWith]) {
      const env = validateEnvironment(raw);
      expect((env as unknown as Record<string, unknown>)[name]).toBe(from(env));
    }
  });
});
