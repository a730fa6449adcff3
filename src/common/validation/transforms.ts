import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { ValidateBy, type ValidationOptions } from 'class-validator';

/**
 * Strict integer parsing for query strings and environment variables: only plain decimal digits become
 * numbers. Anything else ("10abc", "1e3", "", an array from a repeated parameter) is passed on unchanged,
 * so the @IsInt that follows rejects it with a clear message instead of it being silently coerced.
 */
export const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : value;

/** `true`/`false` query flags; any other spelling is passed on for @IsBoolean to reject. */
export const toBoolean = ({ value }: { value: unknown }): unknown =>
  value === 'true' ? true : value === 'false' ? false : value;

/** The property must be present (any JSON value, including null, counts). */
export function IsPresent(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isPresent',
      validator: {
        validate: (value: unknown) => value !== undefined,
        defaultMessage: (args) => `${args?.property ?? 'value'} is required (any JSON value, null included)`,
      },
    },
    options,
  );
}

/** An integer within [min, max], reported as one plain message ("PORT must be an integer from 0 to 65535"). */
export function IsIntInRange(min: number, max: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isIntInRange',
      constraints: [min, max],
      validator: {
        validate: (value: unknown) => Number.isInteger(value) && (value as number) >= min && (value as number) <= max,
        defaultMessage: (args) => `${args?.property ?? 'value'} must be an integer from ${min} to ${max}`,
      },
    },
    options,
  );
}

/** An integer environment setting: parsed from its string form, then held to [min, max]. */
export function IntSetting(min: number, max: number): PropertyDecorator {
  return applyDecorators(Transform(toInt), IsIntInRange(min, max));
}

/** A boolean environment setting: `true` or `false`, and nothing else (a typo is not read as either). */
export function BoolSetting(): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }: { value: unknown }) => (value === 'true' || value === true ? true : value === 'false' || value === false ? false : value)),
    ValidateBy({
      name: 'isBooleanSetting',
      validator: {
        validate: (value: unknown) => typeof value === 'boolean',
        defaultMessage: (args) => `${args?.property ?? 'value'} must be true or false`,
      },
    }),
  );
}

/** A whole number of at least `min`, reported as one plain message ("ttl must be an integer of at least 1"). */
export function IsIntAtLeast(min: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isIntAtLeast',
      constraints: [min],
      validator: {
        validate: (value: unknown) => Number.isSafeInteger(value) && (value as number) >= min,
        defaultMessage: (args) => `${args?.property ?? 'value'} must be an integer of at least ${min}`,
      },
    },
    options,
  );
}

// C0 and C1 control characters (Unicode general category Cc): no key may contain one.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Text that a key could contain: well-formed Unicode without control characters. A filter with anything else
 * could never match, so it is refused like such a key, not accepted to match nothing.
 */
export function IsKeyText(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isKeyText',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && value.isWellFormed() && !CONTROL_CHARACTERS.test(value),
        defaultMessage: (args) =>
          `${args?.property ?? 'value'} must be valid Unicode without control characters (as every key is), or it could never match`,
      },
    },
    options,
  );
}
