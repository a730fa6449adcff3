import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KvRecord } from '../kv.store';
import { readSnapshotFile, type Snapshot, SnapshotError, writeSnapshotFile } from './memory-snapshot';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

const record = (key: string, value: KvRecord['value'], revision: number, expiresAt: number | null = null): KvRecord => ({
  key,
  value,
  revision,
  createdAt: T0,
  updatedAt: T0 + revision,
  expiresAt,
  size: Buffer.byteLength(JSON.stringify(value)),
});

const KEYSPACE = { id: 'aaaaaaaaaaaa', base: 0 };

const sample = (): Snapshot => ({
  keyspace: KEYSPACE,
  revision: 9,
  takenAt: T0 + 1234,
  records: [
    record('a', 1, 3),
    record('team/a b?', { nested: [1, 'two', null, true], '__proto__': { x: 1 } }, 4, T0 + 60_000),
    record('z', null, 9),
    record('\u00e9t\u00e9 \ud83d\ude00', 'emoji and accents', 5),
  ],
  sections: new Map<string, unknown[]>([
    ['subscriptions', [{ id: 's1', secret: 'hush' }]],
    ['empty', []],
  ]),
});

describe('snapshot files', () => {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kv-snapshot-spec-'));
    file = join(dir, 'kv.snapshot');
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const readError = async (): Promise<SnapshotError> => {
    const error = await readSnapshotFile(file).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SnapshotError);
    expect((error as Error).message).not.toContain('\n');
    return error as SnapshotError;
  };

  it('round-trips records, revision, time and sections exactly', async () => {
    const written = await writeSnapshotFile(file, sample());
    expect(written.records).toBe(4);
    expect(written.bytes).toBe(readFileSync(file).length);
    const loaded = await readSnapshotFile(file);
    const expected = sample();
    expect(loaded).toEqual({ ...expected, records: [...expected.records] });
    expect(Object.getPrototypeOf(loaded!.records[1].value)).toBe(Object.prototype);
    expect(readdirSync(dir)).toEqual(['kv.snapshot']); // no temporary file left behind
    expect(statSync(file).mode & 0o777).toBe(0o600); // it holds every value and the webhook secrets
  });

  it('writes NDJSON: header, one line per record, section items, end marker', async () => {
    await writeSnapshotFile(file, sample());
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(JSON.parse(lines[0])).toEqual({
      format: 'kv-store-snapshot',
      version: 2,
      keyspace: 'aaaaaaaaaaaa',
      base: 0,
      revision: 9,
      takenAt: new Date(T0 + 1234).toISOString(),
      sections: ['subscriptions', 'empty'],
    });
    expect(JSON.parse(lines[1])).toEqual(['a', 1, 3, T0, T0 + 3, null]);
    expect(JSON.parse(lines[5])).toEqual({ section: 'subscriptions', item: { id: 's1', secret: 'hush' } });
    expect(JSON.parse(lines[6])).toEqual({ records: 4, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(lines).toHaveLength(7);
  });

  it('round-trips an empty store', async () => {
    await writeSnapshotFile(file, { keyspace: KEYSPACE, revision: 0, takenAt: T0, records: [], sections: new Map() });
    expect(await readSnapshotFile(file)).toEqual({ keyspace: KEYSPACE, revision: 0, takenAt: T0, records: [], sections: new Map() });
  });

  it('reads a version 1 snapshot (kv-store 0.1), which names no keyspace', async () => {
    const { createHash } = await import('node:crypto');
    const body = `${JSON.stringify({ format: 'kv-store-snapshot', version: 1, revision: 3, takenAt: new Date(T0).toISOString(), sections: [] })}\n${JSON.stringify(['a', 'x', 3, T0, T0, null])}\n`;
    writeFileSync(file, `${body}${JSON.stringify({ records: 1, sha256: createHash('sha256').update(body).digest('hex') })}\n`);
    expect(await readSnapshotFile(file)).toEqual({ keyspace: null, revision: 3, takenAt: T0, records: [record('a', 'x', 3)].map((r) => ({ ...r, updatedAt: T0 })), sections: new Map() });
  });

  it('answers null for a missing file: a first start', async () => {
    expect(await readSnapshotFile(file)).toBeNull();
  });

  it('replaces the previous snapshot whole', async () => {
    await writeSnapshotFile(file, sample());
    await writeSnapshotFile(file, { keyspace: KEYSPACE, revision: 10, takenAt: T0, records: [record('only', 1, 10)], sections: new Map() });
    expect((await readSnapshotFile(file))?.records.map((r) => r.key)).toEqual(['only']);
  });

  it('keeps the previous snapshot and leaves no temporary file when writing fails', async () => {
    await writeSnapshotFile(file, sample());
    const before = readFileSync(file);
    function* failing(): Generator<KvRecord> {
      yield record('a', 1, 1);
      throw new Error('disk on fire');
    }
    await expect(writeSnapshotFile(file, { keyspace: KEYSPACE, revision: 1, takenAt: T0, records: failing(), sections: new Map() })).rejects.toThrow('disk on fire');
    expect(readFileSync(file)).toEqual(before);
    expect(readdirSync(dir)).toEqual(['kv.snapshot']);
    await expect(writeSnapshotFile(join(dir, 'missing', 'kv.snapshot'), sample())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('lets the event loop run while a large snapshot is written', async () => {
    const records = Array.from({ length: 50_000 }, (_, i) => record(`key:${String(i).padStart(6, '0')}`, 'x'.repeat(40), i + 1));
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    try {
      await writeSnapshotFile(file, { keyspace: KEYSPACE, revision: 50_000, takenAt: T0, records, sections: new Map() });
    } finally {
      clearInterval(ticker);
    }
    expect(ticks).toBeGreaterThan(1);
    expect((await readSnapshotFile(file))?.records).toHaveLength(50_000);
  });

  describe('refuses a file it cannot trust, with one line naming it and the problem', () => {
    it.each([0.1, 0.5, 0.9, 0.999])('truncated to %p of its length', async (fraction) => {
      await writeSnapshotFile(file, sample());
      const bytes = readFileSync(file);
      writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length * fraction)));
      const error = await readError();
      expect(error.message).toMatch(new RegExp(`^Snapshot ${file} is truncated(: its header is incomplete| or damaged: the end marker is missing after \\d+ complete line\\(s\\) and a partial one)$`));
    });

    it('truncated at a line boundary (the end marker missing)', async () => {
      await writeSnapshotFile(file, sample());
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, text.slice(0, text.lastIndexOf('\n', text.length - 2) + 1));
      expect((await readError()).message).toBe(`Snapshot ${file} is truncated or damaged: the end marker is missing after 6 complete line(s)`);
    });

    it('with any single byte flipped', async () => {
      await writeSnapshotFile(file, sample());
      const original = readFileSync(file);
      const endStart = original.lastIndexOf(10, original.length - 2) + 1;
      const versionDigit = original.indexOf('"version":2') + '"version":'.length;
      // Every byte before the end marker is covered by the checksum.
      for (let i = 0; i < endStart; i += i < 200 ? 1 : 7) {
        const damaged = Buffer.from(original);
        damaged[i] ^= 0x04;
        writeFileSync(file, damaged);
        expect((await readError()).message).toBe(
          i === versionDigit
            ? `Snapshot ${file} has format version 6, which this version of kv-store cannot read (it reads version 2)`
            : i === endStart - 1 // the line break before the end marker: it is no longer a line of its own
              ? `Snapshot ${file} is truncated or damaged: the end marker is missing after 6 complete line(s)`
              : `Snapshot ${file} is corrupt: checksum mismatch (its content was damaged or altered)`,
        );
      }
      // A damaged end marker no longer vouches for the content.
      for (let i = endStart; i < original.length - 1; i += 5) {
        const damaged = Buffer.from(original);
        damaged[i] ^= 0x04;
        writeFileSync(file, damaged);
        expect((await readError()).message).toMatch(new RegExp(`^Snapshot ${file} is (corrupt|truncated)`));
      }
    });

    it('empty, or not a snapshot at all', async () => {
      writeFileSync(file, '');
      expect((await readError()).message).toBe(`Snapshot ${file} is empty`);
      writeFileSync(file, 'hello\nworld\n');
      expect((await readError()).message).toBe(`Snapshot ${file} is not a kv-store snapshot (its first line is not JSON)`);
      writeFileSync(file, '{"a":1}\n');
      expect((await readError()).message).toBe(`Snapshot ${file} is not a kv-store snapshot (no snapshot header)`);
    });

    it('written by a format version it does not know', async () => {
      await writeSnapshotFile(file, sample());
      writeFileSync(file, readFileSync(file, 'utf8').replace('"version":2', '"version":3'));
      expect((await readError()).message).toMatch(/has format version 3, which this version of kv-store cannot read \(it reads version 2\)$/);
    });

    it('that cannot be read', async () => {
      expect((await readSnapshotFile(dir).catch((e: Error) => e.message)) as string).toMatch(new RegExp(`^Snapshot ${dir} cannot be read: EISDIR`));
    });
  });

  describe('checks every record, even with a valid checksum', () => {
    /** Rewrites the file with `edit` applied to its lines, and a checksum that matches again. */
    const rewrite = async (edit: (lines: string[]) => void): Promise<void> => {
      const { createHash } = await import('node:crypto');
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      const end = JSON.parse(lines.pop()!) as Record<string, unknown>;
      edit(lines);
      const body = lines.map((l) => `${l}\n`).join('');
      writeFileSync(file, `${body}${JSON.stringify({ ...end, sha256: createHash('sha256').update(body).digest('hex') })}\n`);
    };

    it.each([
      ['a record of the wrong shape', (l: string[]) => (l[1] = '["a",1,3]'), /line 2: a record must be an array of 6 fields/],
      ['keys out of order', (l: string[]) => ([l[1], l[2]] = [l[2], l[1]]), /line 3: key "a" is out of order or repeated/],
      ['a repeated key', (l: string[]) => (l[2] = l[1]), /line 3: key "a" is out of order or repeated/],
      ['a revision above the store revision', (l: string[]) => (l[1] = JSON.stringify(['a', 1, 99, T0, T0, null])), /line 2: key "a": revision must be from 1 to the store revision 9/],
      ['a bad time', (l: string[]) => (l[1] = JSON.stringify(['a', 1, 3, 'yesterday', T0, null])), /createdAt and updatedAt must be times/],
      ['a bad expiry', (l: string[]) => (l[1] = JSON.stringify(['a', 1, 3, T0, T0, 'soon'])), /expiresAt must be a time or null/],
      ['a line that is not JSON', (l: string[]) => (l[2] = '[oops'), /line 3 is not valid JSON/],
      ['an unknown line', (l: string[]) => (l[2] = '{"what":1}'), /line 3 is neither a record nor an item of a section the header names/],
      ['an item of a section the header does not name', (l: string[]) => (l[5] = '{"section":"other","item":1}'), /line 6 is neither a record/],
      ['a record after the sections', (l: string[]) => l.push(JSON.stringify(['zz', 1, 1, T0, T0, null])), /line 7: a record after the sections/],
      ['a record count that does not match', (l: string[]) => l.splice(2, 1), /holds 3 records, its end marker says 4/],
      ['a malformed header', (l: string[]) => (l[0] = l[0].replace('"revision":9', '"revision":-1')), /its header is malformed/],
    ])('%s', async (_name, edit, message) => {
      await writeSnapshotFile(file, sample());
      await rewrite(edit);
      const error = await readError();
      expect(error.message).toMatch(new RegExp(`^Snapshot ${file} is corrupt: `));
      expect(error.message).toMatch(message);
    });
  });
});
