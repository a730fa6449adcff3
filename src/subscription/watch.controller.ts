import { Controller, Get, Headers, Query, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyRegistry } from '../auth/api-keys';
import { ApiKeyAuth } from '../auth/auth.decorators';
import { clientOf } from '../auth/client-identity';
import { InvalidRequestError } from '../common/errors/domain.errors';
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

function resumeFrom(lastEventId: string | undefined, since: number | undefined): number | null {
  if (lastEventId !== undefined && lastEventId.trim() !== '') {
    if (!/^\d{1,16}$/.test(lastEventId.trim())) throw new InvalidRequestError('Last-Event-ID must be a revision (a non-negative integer)');
    return Number(lastEventId.trim());
  }
  return since ?? null;
}
