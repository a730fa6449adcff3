import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';
import { EventFilterDto } from './event-filter.dto';

/** `GET /watch`: a filter, and optionally where to resume from. */
export class WatchQueryDto extends EventFilterDto {
  @ApiPropertyOptional({
    description:
      'Replay retained events after this point, then continue live: an event id (`<keyspace>:<revision>`, as the stream sends them) ' +
      'or a bare revision, read in the current keyspace. `Last-Event-ID` takes precedence.',
    example: '0',
  })
  @IsOptional()
  @IsString()
  since?: string;
}
