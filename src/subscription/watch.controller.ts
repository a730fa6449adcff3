import { Controller, Get, Headers, Query, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyRegistry } from '../auth/api-keys';
import { ApiKeyAuth } from '../auth/auth.decorators';
import { clientOf } from '../auth/client-identity';
import { InvalidRequestError } from '../common/errors/domain.errors';
import { parsePosition, type Position } from '../store/keyspace';
import { StreamingRoute } from '../common/http/streaming-route';
import { WatchQueryDto } from './dto/watch-query.dto';
import { toEventFilter } from './event-filter';
import { WatchService } from './watch.service';
import { ApiWatch } from './watch.docs';

export const WATCH_TAG = 'watch';

@ApiTags(WATCH_TAG)
@ApiKeyAuth()
@Controller('watch')
export class WatchController {
  constructor(
    private readonly watches: WatchService,
    private readonly apiKeys: ApiKeyRegistry,
  ) {}

  @Get()
  @StreamingRoute()
  @ApiWatch()
  watch(
    @Query() query: WatchQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): void {
    const filter = toEventFilter(query);
    const since = resumeFrom(lastEventId, query.since);
    if (req.method === 'HEAD') {
      // Express routes HEAD here too: answer with the stream's headers, without holding a stream open.
      res.status(200).type('text/event-stream').setHeader('Cache-Control', 'no-cache');
      res.end();
      return;
    }
    this.watches.open(res, filter, since, clientOf(req, this.apiKeys).id);
  }
}

/** Where a watch resumes: Last-Event-ID, else `since`, else nowhere (live only). */
function resumeFrom(lastEventId: string | undefined, since: string | undefined): Position | null {
  const [name, text] = lastEventId !== undefined && lastEventId.trim() !== '' ? ['Last-Event-ID', lastEventId.trim()] : ['since', since];
  if (text === undefined) return null;
  const position = parsePosition(text);
  if (position === null) {
    throw new InvalidRequestError(`${name} must be an event id (<keyspace>:<revision>, as the stream sends them) or a revision (a whole number from 0 to 2^53-1)`);
  }
  return position;
}
