import type { ValidationError } from 'class-validator';
import { InvalidRequestError } from '../errors/domain.errors';

function flatten(errors: readonly ValidationError[]): string[] {
  return errors.flatMap((e) => [...Object.values(e.constraints ?? {}), ...flatten(e.children ?? [])]);
}

/** class-validator's findings as the 400 every invalid request gets: one message, each finding in `details`. */
export function toInvalidRequest(errors: readonly ValidationError[]): InvalidRequestError {
  const details = flatten(errors);
  return new InvalidRequestError(`Invalid request: ${details.join('; ')}`, details);
}
