import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILD_INFO_FILES, readBuildInfo } from './build-info';

describe('readBuildInfo', () => {
  let dir: string;
  let files: { packageJson: string; buildInfo: string };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kv-build-info-'));
    files = { packageJson: join(dir, 'package.json'), buildInfo: join(dir, 'build-info.json') };
    writeFileSync(files.packageJson, '{"name":"kv-store","version":"1.2.3"}');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('takes the version from package.json and the revision from the build-info file the image build writes', () => {
    writeFileSync(files.buildInfo, '{"revision":"0123456789abcdef0123456789abcdef01234567"}\n');
    expect(readBuildInfo(files)).toEqual({ version: '1.2.3', revision: '0123456789abcdef0123456789abcdef01234567', node: process.version });
  });

  it('says "unknown" when no build-info file exists or the build recorded no revision', () => {
    expect(readBuildInfo(files).revision).toBe('unknown');
    writeFileSync(files.buildInfo, '{"revision":""}');
    expect(readBuildInfo(files).revision).toBe('unknown');
  });

  it('refuses a build-info file that is not a JSON object with a string revision, naming the file', () => {
    writeFileSync(files.buildInfo, 'abc');
    expect(() => readBuildInfo(files)).toThrow(`${files.buildInfo} (the build-info file) is not a JSON object`);
    writeFileSync(files.buildInfo, '{"revision":42}');
    expect(() => readBuildInfo(files)).toThrow(`${files.buildInfo}: "revision" must be a string`);
  });

  it("reads this repository's package.json by default", () => {
    expect(readBuildInfo().version).toBe((require(BUILD_INFO_FILES.packageJson) as { version: string }).version);
  });
});
