import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Min } from 'class-validator';
import { IsPresent } from '../../common/validation/transforms';
import type { JsonValue } from '../../store/kv.store';

/** Body of `PUT /keys/:key`. */
export class PutValueDto {
  @ApiProperty({
    description: 'Any JSON value: string, number, boolean, null, object or array.',
    example: { name: 'ashish', roles: ['admin'] },
  })
  // Hand the parsed JSON through untouched: class-transformer would otherwise rebuild nested objects.
  @Transform(({ obj }: { obj: { value?: JsonValue } }) => obj.value)
  @IsPresent()
  value!: JsonValue;

  @ApiPropertyOptional({ description: 'Seconds until the key expires (positive integer). Omitted: never (an earlier TTL is cleared).', example: 3600 })
  @IsOptional()
  @IsInt()
  @Min(1)
  ttl?: number;
}
