import { applyDecorators } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiServiceUnavailableResponse,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/dto/error-response.dto';

export const ApiWatch = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({
      summary: 'Stream changes live (Server-Sent Events), resumable without gaps',
      description: [
        'A `text/event-stream`. Each change is one message: `id: <keyspace>:<revision>`, `event: put|delete|expire`, `data: ' +
          '{"type","key","value"?,"prevValue"?,"keyspace","revision","time"}`. A multi-pair set arrives as consecutive messages written together.',
        'Resume: send `Last-Event-ID` (browsers\' EventSource does it on reconnect) or `?since=`, with an id the stream sent, or a bare ' +
          'revision (read in the current keyspace): every retained matching event after it is replayed, then the stream continues live, ' +
          'with no gap and no duplicate. A replay is read as fast as the client takes it.',
        'If that point is older than the retained history (WATCH_HISTORY events, WATCH_HISTORY_BYTES bytes), ahead of the store, or ' +
          'from another keyspace (the store began a new one after losing data, see docs/api.md#consistency-model), the stream first ' +
          'sends `event: reset` with `{"keyspace": K, "revision": N}` (and `id: K:N`): re-read the keys you follow, then carry on from ' +
          'there. Open streams get the same reset the moment their keyspace changes. Live events follow.',
        'A comment (`: heartbeat`) arrives every WATCH_HEARTBEAT_MS; on filtered streams it may carry an `id:` that advances ' +
          'Last-Event-ID past changes that did not match. A client that falls WATCH_MAX_BUFFER_BYTES behind gets `event: overflow` ' +
          '(`{"lastEventId","lastRevision","message"}`) and the stream ends; at server shutdown streams end with `event: shutdown` and ' +
          '`retry:`. Reconnect with Last-Event-ID.',
      ].join('\n\n'),
    }),
    ApiProduces('text/event-stream'),
    ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Resume after this event id, `<keyspace>:<revision>` (takes precedence over `since`).' }),
    ApiOkResponse({
      description: 'The event stream.',
      content: {
        'text/event-stream': {
          schema: { type: 'string' },
          example:
            'id: 5f0c2a9be41d:7\nevent: put\ndata: {"type":"put","key":"user:42","value":{"name":"ashish"},"keyspace":"5f0c2a9be41d","revision":7,"time":"2026-11-24T10:00:00.000Z"}\n\n',
        },
      },
    }),
    ApiBadRequestResponse({ type: ErrorResponseDto, description: 'More than one filter, or an invalid since / Last-Event-ID.' }),
    ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: 'WATCH_MAX_STREAMS streams are open; `Retry-After` says when to retry.' }),
    ApiTooManyRequestsResponse({ type: ErrorResponseDto, description: 'This client holds WATCH_MAX_STREAMS_PER_CLIENT streams (or RATE_LIMIT is exceeded).' }),
  );
