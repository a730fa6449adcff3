import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsOptional, IsString } from 'class-validator';
import { IsIntInRange, IsKeyText, toInt } from '../validation/transforms';

export const DEFAULT_PAGE_LIMIT = 1000;
export const MAX_PAGE_LIMIT = 10000;

/** An empty filter is no filter. */
const emptyAsAbsent = ({ value }: { value: unknown }): unknown => (value === '' ? undefined : value);

/**
 * Cursor pagination and key filters, shared by `GET /`, `GET /keys` and `GET /search`: all three walk
 * the same ordered index, in Unicode code-point order.
 */
export class KeyQueryDto {
  @ApiPropertyOptional({ description: `Page size, 1 to ${MAX_PAGE_LIMIT}.`, default: DEFAULT_PAGE_LIMIT, example: 100 })
  @Transform(toInt)
  @IsOptional()
  @IsIntInRange(1, MAX_PAGE_LIMIT)
  limit: number = DEFAULT_PAGE_LIMIT;

  @ApiPropertyOptional({ description: 'Exclusive cursor: start after this key (the previous page\'s last key).', example: 'abc-1' })
  @IsOptional()
  @IsString()
  @IsKeyText()
  after?: string;

  @ApiPropertyOptional({ description: 'Only keys that start with this (empty: no filter).', example: 'abc' })
  @Transform(emptyAsAbsent)
  @IsOptional()
  @IsString()
  @IsKeyText()
  prefix?: string;

  @ApiPropertyOptional({ description: 'Only keys that end with this (empty: no filter). With `prefix`: keys that match both.', example: '-1' })
  @Transform(emptyAsAbsent)
  @IsOptional()
  @IsString()
  @IsKeyText()
  suffix?: string;
}
