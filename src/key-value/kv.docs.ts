import { applyDecorators } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiPayloadTooLargeResponse,
  ApiUnsupportedMediaTypeResponse,
  getSchemaPath,
} from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { ApiWriteOutcomes } from '../common/dto/write-outcome.docs';
import { NEXT_LINK_HEADER } from '../common/http/pagination';
import { PairDto, SetResponseDto } from './dto/seed-responses.dto';

export const ApiSetPairs = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({
      summary: 'Set one pair, or many pairs atomically',
      description:
        'An object whose properties are exactly `key` (a string) and `value` is one pair. An object that names `key` or ' +
        '`value` and is not exactly that is a 400 saying what is wrong (`ttl`, `nx` and `xx` go in the query string), never ' +
        'stored as keys; keys named `key` or `value` are written with `PUT /keys/{key}`. Any other object is a map of pairs, ' +
        'applied all or none; the answer then adds `count`. Values are any JSON value.',
    }),
    ApiBody({
      schema: {
        oneOf: [
          { $ref: getSchemaPath(PairDto) },
          { type: 'object', additionalProperties: {}, minProperties: 1, description: 'A map of key to value.' },
        ],
      },
      examples: {
        pair: { summary: 'One pair', value: { key: 'key_1', value: 'value_1' } },
        map: { summary: 'Many pairs (atomic)', value: { 'abc-1': 1, 'abc-2': 2, 'xyz-1': 'three', 'xyz-2': 4 } },
      },
    }),
    ApiOkResponse({ type: SetResponseDto, description: 'Written.' }),
    ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Malformed JSON, an empty object, an array or scalar body, an invalid key or option.' }),
    ApiNotFoundResponse({ type: ErrorResponseDto, description: '`xx=true` and a key is absent; nothing was written.' }),
    ApiConflictResponse({ type: ErrorResponseDto, description: '`nx=true` and a key exists; nothing was written.' }),
    ApiPayloadTooLargeResponse({ type: ErrorResponseDto, description: 'A value over KV_MAX_VALUE_BYTES, or a body over KV_MAX_BODY_BYTES.' }),
    ApiUnsupportedMediaTypeResponse({ type: ErrorResponseDto, description: 'The body is not `application/json`.' }),
    ApiWriteOutcomes(),
  );

export const ApiGetValue = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({ summary: 'Get the value of a key', description: 'Percent-encode the key: `/get/a%2Fb` reads the key `a/b`.' }),
    ApiParam({ name: 'key', type: String, example: 'key_1' }),
    ApiOkResponse({ type: PairDto, description: 'The key and its value.' }),
    ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid key.' }),
    ApiNotFoundResponse({ type: ErrorResponseDto, description: '`Key not found`: absent or expired.' }),
  );

export const ApiGetAll = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({
      summary: 'All pairs, as one JSON object in key order',
      description:
        'Keys are in Unicode code-point order. Paginated: when more remain, the `Link` header carries the next page (`rel="next"`). ' +
        'Takes the same `prefix` and `suffix` filters as `GET /search`.',
    }),
    ApiOkResponse({
      description: 'An object of key to value.',
      schema: { type: 'object', additionalProperties: {}, example: { 'abc-1': 1, 'abc-2': 2, 'xyz-1': 'three' } },
      headers: { Link: NEXT_LINK_HEADER },
    }),
    ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid limit or cursor.' }),
  );
