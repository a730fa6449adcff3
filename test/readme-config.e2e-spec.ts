import { EnvironmentVariables } from '../src/config/env.validation';
import { readDoc } from './helpers/markdown';

/** The document that lists every setting: the one place the README and the other docs point to for them. */
const CONFIGURATION = 'docs/configuration.md';

/** The configuration table, row by row: [variable, default column]. */
function documentedSettings(): [string, string][] {
  const doc = readDoc(CONFIGURATION);
  const table = doc.slice(doc.indexOf('| variable | default | meaning |')).split('\n');
  return table
    .slice(2, table.findIndex((line) => !line.startsWith('|')))
    .map((line) => {
      const [, name, defaults] = line.split('|').map((cell) => cell.trim());
      return [name.replace(/`/g, ''), defaults];
    });
}

describe(`the configuration table (${CONFIGURATION})`, () => {
  const settings = new EnvironmentVariables() as unknown as Record<string, unknown>;

  it('lists every setting the service reads, in the order env.validation.ts groups them', () => {
    expect(documentedSettings().map(([name]) => name)).toEqual(Object.keys(settings));
  });

  it.each(documentedSettings())('states the real default of %s', (name, documented) => {
    const actual = settings[name];
    if (actual === undefined) return; // derived from other settings (KV_MAX_BODY_BYTES): the row says how
    if (actual === '') expect(documented).toMatch(/^empty/);
    else expect(/^`([^`]*)`/.exec(documented)?.[1]).toBe(String(actual));
  });
});
