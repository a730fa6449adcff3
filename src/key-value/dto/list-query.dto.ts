import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { toInt } from '../../common/validation/transforms';

export const DEFAULT_PAGE_LIMIT = 1000;
export const MAX_PAGE_LIMIT = 10000;

/** Cursor pagination shared by `GET /` and `GET /keys`. */
export class ListQueryDto {
  @ApiPropertyOptional({ description: `Page size, 1 to ${MAX_PAGE_LIMIT}.`, default: DEFAULT_PAGE_LIMIT, example: 100 })
  @Transform(toInt)
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_LIMIT)
  limit: number = DEFAULT_PAGE_LIMIT;

  @ApiPropertyOptional({ description: 'Exclusive cursor: start after this key (the previous page\'s `next`).', example: 'abc-1' })
  @IsOptional()
  @IsString()
  after?: string;
}
