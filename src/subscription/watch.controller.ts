import { Controller, Get, Headers, Query, Req, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyRegistry } from '../auth/api-keys';
import { ApiKeyAuth } from '../auth/auth.decorators';
import { clientOf } from '../auth/client-identity';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { InvalidRequestError } from '../common/errors/domain.errors';
import { WatchQueryDto } from './dto/watch-query.dto';
import { toEventFilter } from './event-filter';
import { WatchService } from './watch.service';

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
  @ApiOperation({
    summary: 'Stream changes live (Server-Sent Events), resumable without gaps',
    description: [
      'A `text/event-stream`. Each change is one message: `id: <revision>`, `event: put|delete|expire`, `data: ' +
        '{"type","key","value"?,"prevValue"?,"revision","time"}`. A multi-pair set arrives as consecutive messages written together.',
      'Resume: send `Last-Event-ID: <revision>` (browsers\' EventSource does it on reconnect) or `?since=<revision>`: every ' +
        'retained matching event after it is replayed, then the stream continues live, with no gap and no duplicate.',
      'If that revision is older than the retained history (WATCH_HISTORY events), the stream first sends `event: reset` ' +
        'with `{"revision": N}` (and `id: N`): re-read the keys you follow, then carry on from N. Live events follow.',
      'A comment (`: heartbeat`) arrives every WATCH_HEARTBEAT_MS; on filtered streams it may carry an `id:` that advances ' +
        'Last-Event-ID past changes that did not match. A client that falls WATCH_MAX_BUFFER_BYTES behind gets `event: overflow` ' +
        'and the stream ends; at server shutdown streams end with `event: shutdown` and `retry:`. Reconnect with Last-Event-ID.',
    ].join('\n\n'),
  })
  @ApiProduces('text/event-stream')
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Resume after this revision (takes precedence over `since`).' })
  @ApiOkResponse({
    description: 'The event stream.',
    content: {
      'text/event-stream': {
        schema: { type: 'string' },
        example: 'id: 7\nevent: put\ndata: {"type":"put","key":"user:42","value":{"name":"ashish"},"revision":7,"time":"2026-11-24T10:00:00.000Z"}\n\n',
      },
    },
  })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'More than one filter, or an invalid since / Last-Event-ID.' })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: 'WATCH_MAX_STREAMS streams are open; `Retry-After` says when to retry.' })
  @ApiTooManyRequestsResponse({ type: ErrorResponseDto, description: 'This client holds WATCH_MAX_STREAMS_PER_CLIENT streams (or RATE_LIMIT is exceeded).' })
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
