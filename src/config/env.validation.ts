import { plainToInstance, Transform } from 'class-transformer';
import { IsIn, IsString, MinLength, validateSync, type ValidationError } from 'class-validator';
import { IsIntInRange, toInt } from '../common/validation/transforms';

export const STORE_DRIVERS = ['memory'] as const;
export type StoreDriver = (typeof STORE_DRIVERS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];


const MIB = 1024 * 1024;

/**
 * Every setting the service reads, with its default. The README's configuration table mirrors this
 * class; keep the two in step.
 */
export class EnvironmentVariables {
  /** TCP port the HTTP server listens on. */
  @Transform(toInt)
  @IsIntInRange(0, 65535)
  PORT: number = 8080;

  /** Address the HTTP server binds to. */
  @IsString()
  @MinLength(1)
  HOST: string = '0.0.0.0';

  /** Which store backs the keyspace. */
  @IsIn(STORE_DRIVERS)
  STORE_DRIVER: StoreDriver = 'memory';

  /** Longest key accepted, in bytes of UTF-8. */
  @Transform(toInt)
  @IsIntInRange(1, MIB)
  KV_MAX_KEY_BYTES: number = 1024;

  /** Largest value accepted, measured as its JSON encoding in bytes. */
  @Transform(toInt)
  @IsIntInRange(1, 512 * MIB)
  KV_MAX_VALUE_BYTES: number = MIB;

  /**
   * Largest request body. When unset it is derived from the key and value limits (plus room for the
   * JSON envelope), so a value of exactly KV_MAX_VALUE_BYTES can always be written.
   */
  @Transform(toInt)
  @IsIntInRange(1, 1024 * MIB)
  KV_MAX_BODY_BYTES!: number;

  /** Most pairs accepted in one multi-pair POST /set. */
  @Transform(toInt)
  @IsIntInRange(1, 1_000_000)
  KV_MAX_BATCH_KEYS: number = 1000;

  /** Longest TTL accepted, in seconds (default: 2^31-1, about 68 years). */
  @Transform(toInt)
  @IsIntInRange(1, 2_147_483_647)
  KV_MAX_TTL_SECONDS: number = 2_147_483_647;

  /** How often the memory store sweeps expired keys out of memory, in milliseconds. */
  @Transform(toInt)
  @IsIntInRange(10, 3_600_000)
  KV_EXPIRY_SWEEP_INTERVAL_MS: number = 1000;

  /** Log verbosity (pino levels). */
  @IsIn(LOG_LEVELS)
  LOG_LEVEL: LogLevel = 'info';
}

/** Room for `{"key":..., "value":...}`, escapes and whitespace around the largest key and value. */
const BODY_ENVELOPE_BYTES = 64 * 1024;

/** Thrown when the environment does not validate; its message is one line fit for a terminal. */
export class ConfigValidationError extends Error {
  override readonly name = 'ConfigValidationError';
}

function describe(error: ValidationError): string {
  const got = error.value === undefined ? '' : ` (got ${JSON.stringify(error.value)})`;
  // class-validator's messages already name the variable: "PORT must not be greater than 65535".
  return `${Object.values(error.constraints ?? {}).join(', ')}${got}`;
}

/**
 * Validates and types the raw environment. Unknown variables are ignored; blank values count as unset,
 * so `PORT=` falls back to the default instead of failing.
 */
export function validateEnvironment(raw: Record<string, unknown>): EnvironmentVariables {
  const known = new EnvironmentVariables();
  const input: Record<string, unknown> = {};
  for (const name of Object.keys(known).concat('KV_MAX_BODY_BYTES')) {
    const value = raw[name];
    if (value !== undefined && value !== '') input[name] = value;
  }
  const env = plainToInstance(EnvironmentVariables, input, { exposeDefaultValues: true });
  env.KV_MAX_BODY_BYTES ??= env.KV_MAX_VALUE_BYTES + env.KV_MAX_KEY_BYTES + BODY_ENVELOPE_BYTES;
  const errors = validateSync(env, { whitelist: true, forbidUnknownValues: true });
  if (errors.length > 0) {
    throw new ConfigValidationError(`Invalid configuration: ${errors.map(describe).join('; ')}`);
  }
  if (env.KV_MAX_BODY_BYTES < env.KV_MAX_VALUE_BYTES) {
    throw new ConfigValidationError(
      `Invalid configuration: KV_MAX_BODY_BYTES (${env.KV_MAX_BODY_BYTES}) must be at least KV_MAX_VALUE_BYTES (${env.KV_MAX_VALUE_BYTES}), or a value of the maximum size could never be written`,
    );
  }
  return env;
}
