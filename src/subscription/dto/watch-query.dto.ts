import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Min } from 'class-validator';
import { toInt } from '../../common/validation/transforms';
import { EventFilterDto } from './event-filter.dto';

/** `GET /watch`: a filter, and optionally where to resume from. */
export class WatchQueryDto extends EventFilterDto {
  @ApiPropertyOptional({
    description: 'Replay retained events with a revision above this, then continue live. `Last-Event-ID` takes precedence.',
    example: 0,
  })
  @Transform(toInt)
  @IsOptional()
  @IsInt()
  @Min(0)
  since?: number;
}
