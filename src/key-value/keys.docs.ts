import { applyDecorators } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiCreatedResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiPayloadTooLargeResponse,
  ApiPreconditionFailedResponse,
  ApiResponse,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { ApiWriteOutcomes } from '../common/dto/write-outcome.docs';
import { NEXT_LINK_HEADER } from '../common/http/pagination';
import { PutValueDto } from './dto/put-value.dto';
import { RecordDto, RecordPageDto } from './dto/record.dto';

const ETAG_HEADER = {
  description: 'The record\'s position as a strong entity tag: `"<keyspace>:<revision>"`. Opaque: compare it whole.',
  schema: { type: 'string', example: '"5f0c2a9be41d:42"' },
};

const KEY_PARAM = { name: 'key', description: 'The key, percent-encoded (`a%2Fb` is `a/b`).', example: 'user:42' };

const IF_MATCH = {
  name: 'If-Match',
  required: false,
  description: 'Compare-and-set: the ETag (`"<keyspace>:<revision>"`) or a list of them, compared exactly; `*` requires the key to exist. 412 otherwise.',
};

export const ApiListRecords = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({
      summary: 'List records in key order',
      description: 'Cursor pagination: pass the answer\'s `next` as `after`. Filter with `prefix` and/or `suffix`, as on `GET /search`.',
    }),
    ApiOkResponse({ type: RecordPageDto, description: 'A page of records in key order; `next` (and `Link`) when more remain.', headers: { Link: NEXT_LINK_HEADER } }),
    ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid limit or cursor.' }),
  );

export const ApiGetRecord = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({ summary: 'Get a record', description: 'The `ETag` header is the record\'s position, `"<keyspace>:<revision>"`; `If-None-Match` with it answers 304.' }),
    ApiParam(KEY_PARAM),
    ApiHeader({ name: 'If-None-Match', required: false, description: 'The ETag: 304 Not Modified while the key is unchanged.' }),
    ApiOkResponse({ type: RecordDto, description: 'The record, with its position as `ETag`.', headers: { ETag: ETAG_HEADER } }),
    ApiResponse({ status: 304, description: 'Not modified.' }),
    ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid key.' }),
    ApiNotFoundResponse({ type: ErrorResponseDto, description: 'Absent or expired.' }),
  );

export const ApiPutRecord = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({
      summary: 'Create or replace a record',
      description: '201 when created (with `Location`), 200 when replaced. A write without `ttl` clears any earlier expiry.',
    }),
    ApiParam(KEY_PARAM),
    ApiHeader({ name: 'If-None-Match', required: false, description: '`*`: create only; 412 if the key exists.' }),
    ApiHeader(IF_MATCH),
    ApiCreatedResponse({
      type: RecordDto,
      description: 'Created.',
      headers: { ETag: ETAG_HEADER, Location: { description: 'The record\'s URL.', schema: { type: 'string' } } },
    }),
    ApiOkResponse({ type: RecordDto, description: 'Replaced.', headers: { ETag: ETAG_HEADER } }),
    ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Malformed JSON, unknown fields, missing value, invalid ttl or key.' }),
    ApiPreconditionFailedResponse({ type: ErrorResponseDto, description: 'If-Match or If-None-Match did not hold; nothing was written.' }),
    ApiPayloadTooLargeResponse({ type: ErrorResponseDto, description: 'A value over KV_MAX_VALUE_BYTES, or a body over KV_MAX_BODY_BYTES.' }),
    ApiUnsupportedMediaTypeResponse({ type: ErrorResponseDto, description: 'The body is not `application/json`.' }),
    ApiBody({ type: PutValueDto }),
    ApiWriteOutcomes(),
  );

export const ApiDeleteRecord = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({ summary: 'Delete a record' }),
    ApiParam(KEY_PARAM),
    ApiHeader(IF_MATCH),
    ApiNoContentResponse({ description: 'Deleted.' }),
    ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid key or header.' }),
    ApiNotFoundResponse({ type: ErrorResponseDto, description: 'Absent or expired.' }),
    ApiPreconditionFailedResponse({ type: ErrorResponseDto, description: 'If-Match did not hold; nothing was deleted.' }),
    ApiWriteOutcomes(),
  );
