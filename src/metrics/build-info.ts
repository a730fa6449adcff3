import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Gauge } from 'prom-client';
import { KV_BUILD_INFO } from './metric-names';

/** The labels of kv_build_info. */
export interface BuildInfo {
  /** package.json's version. */
  readonly version: string;
  /** The commit the image was built from, or `unknown` (a build that did not record one, e.g. `npm start`). */
  readonly revision: string;
  /** The Node.js version running the server, e.g. v24.11.0. */
  readonly node: string;
}

/** Where things are: the defaults are the app's own package.json and the file the image build writes. */
export interface BuildInfoFiles {
  readonly packageJson: string;
  readonly buildInfo: string;
}

/**
 * `dist/build-info.json`, written by the Dockerfile from its REVISION (or VCS_REF) build arg as
 * `{"revision": "<commit>"}`. A file rather than a setting: the commit belongs to the image, not to its
 * deployment, and the server reads its settings from the environment in main.ts only.
 */
export const BUILD_INFO_FILES: BuildInfoFiles = {
  packageJson: join(__dirname, '..', '..', 'package.json'),
  buildInfo: join(__dirname, '..', 'build-info.json'),
};

export const UNKNOWN_REVISION = 'unknown';

function readJson(path: string, what: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // Reported below with the file's name.
  }
  throw new Error(`${path} (${what}) is not a JSON object`);
}

function stringField(object: Record<string, unknown>, field: string, path: string): string | undefined {
  const value = object[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new Error(`${path}: "${field}" must be a string`);
  return value.trim();
}

/**
 * The build's version, revision and Node version. A missing build-info file means the revision is unknown (a
 * build from a checkout); a file that is there but unreadable is a broken image and stops the start.
 */
export function readBuildInfo(files: BuildInfoFiles = BUILD_INFO_FILES): BuildInfo {
  const pkg = readJson(files.packageJson, 'package.json');
  const version = pkg && stringField(pkg, 'version', files.packageJson);
  if (!version) throw new Error(`${files.packageJson} has no version`);
  const build = readJson(files.buildInfo, 'the build-info file');
  const revision = (build && stringField(build, 'revision', files.buildInfo)) || UNKNOWN_REVISION;
  return { version, revision, node: process.version };
}

/** Sets kv_build_info{version, revision, node} to 1 once, when the app starts. */
@Injectable()
export class BuildInfoMetric implements OnModuleInit {
  constructor(@InjectMetric(KV_BUILD_INFO) private readonly gauge: Gauge<string>) {}

  onModuleInit(): void {
    this.gauge.set({ ...readBuildInfo() }, 1);
  }
}
