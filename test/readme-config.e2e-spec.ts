import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvironmentVariables } from '../src/config/env.validation';

/** The configuration table of the README, row by row: [variable, default column]. */
function documentedSettings(): [string, string][] {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('| variable | default | meaning |')).split('\n');
  return table
    .slice(2, table.findIndex((line) => !line.startsWith('|')))
    .map((line) => {
      const [, name, defaults] = line.split('|').map((cell) => cell.trim());
      return [name.replace(/`/g, ''), defaults];
    });
}

describe('README configuration table', () => {
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
