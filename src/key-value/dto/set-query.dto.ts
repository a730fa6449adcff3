import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional } from 'class-validator';
import { IsIntAtLeast, toBoolean, toInt } from '../../common/validation/transforms';

/** Options of the seed-compatible `POST /set`. */
export class SetQueryDto {
  @ApiPropertyOptional({ description: 'Seconds until every written key expires (positive integer). Omitted: never.', example: 60 })
  @Transform(toInt)
  @IsOptional()
  @IsIntAtLeast(1)
  ttl?: number;

  @ApiPropertyOptional({ description: 'Create only: write nothing and answer 409 if any key already exists.', example: false })
  @Transform(toBoolean)
  @IsOptional()
  @IsBoolean()
  nx?: boolean;

  @ApiPropertyOptional({ description: 'Update only: write nothing and answer 404 if any key is absent.', example: false })
  @Transform(toBoolean)
  @IsOptional()
  @IsBoolean()
  xx?: boolean;
}
