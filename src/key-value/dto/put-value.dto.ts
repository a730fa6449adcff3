import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ValidateIf, validateSync } from 'class-validator';
import { InvalidRequestError } from '../../common/errors/domain.errors';
import { IsIntAtLeast, IsPresent } from '../../common/validation/transforms';
import { toInvalidRequest } from '../../common/validation/validation-error';
import type { JsonValue } from '../../store/kv.store';

/** Body of `PUT /keys/:key`. */
export class PutValueDto {
  @ApiProperty({
    description: 'Any JSON value: string, number, boolean, null, object or array.',
    example: { name: 'ashish', roles: ['admin'] },
  })
  @IsPresent()
  value!: JsonValue;

  @ApiPropertyOptional({ description: 'Seconds until the key expires (positive integer). Omitted: never (an earlier TTL is cleared).', example: 3600 })
  // Only an absent ttl means none: null is not a number of seconds (IsOptional would let it through).
  @ValidateIf((body: PutValueDto) => body.ttl !== undefined)
  @IsIntAtLeast(1)
  ttl?: number;
}

/**
 * Validates a PUT body against PutValueDto without letting anything rebuild `value`: Nest's ValidationPipe
 * deletes `__proto__`, `constructor` and `prototype` keys at every depth of a body, and class-transformer
 * rebuilds nested objects, either of which would change the stored data. So the controller takes the body
 * as it was parsed and only its top-level fields are copied, as own properties, onto the instance checked here.
 */
export function toPutValue(body: unknown): PutValueDto {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError('Body must be a JSON object: {"value": <any JSON>, "ttl"?: <seconds>}');
  }
  // Checked here, not by the validator, which passes over a property named __proto__.
  const unknown = Object.keys(body).filter((name) => name !== 'value' && name !== 'ttl');
  if (unknown.length > 0) {
    const problems = unknown.map((name) => `property ${name} should not exist`);
    throw new InvalidRequestError(`Invalid request: ${problems.join('; ')} (the body is {"value": <any JSON>, "ttl"?: <seconds>})`, problems);
  }
  const dto = new PutValueDto();
  for (const [name, value] of Object.entries(body)) {
    Object.defineProperty(dto, name, { value, enumerable: true, writable: true, configurable: true });
  }
  const errors = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length > 0) throw toInvalidRequest(errors);
  return dto;
}
