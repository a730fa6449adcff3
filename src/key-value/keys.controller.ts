import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Put, Query, Req, Res } from '@nestjs/common';
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
  ApiTags,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyAuth } from '../auth/auth.decorators';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { InvalidRequestError } from '../common/errors/domain.errors';
import { etagOf, parseEntityTags } from '../common/http/conditional';
import { NEXT_LINK_HEADER, setNextLink } from '../common/http/pagination';
import { KeyQueryDto } from '../common/dto/key-query.dto';
import { PutValueDto, toPutValue } from './dto/put-value.dto';
import { RecordDto, RecordPageDto } from './dto/record.dto';
import { type HttpConditions, KeyValueService } from './key-value.service';

export const KEYS_TAG = 'keys';

const ETAG_HEADER = { description: 'The record\'s revision as a strong entity tag: `"42"`.', schema: { type: 'string', example: '"42"' } };

const KEY_PARAM = { name: 'key', description: 'The key, percent-encoded (`a%2Fb` is `a/b`).', example: 'user:42' };
const IF_MATCH = {
  name: 'If-Match',
  required: false,
  description: 'Compare-and-set: `"<revision>"` (the ETag) or a list of them; `*` requires the key to exist. 412 otherwise.',
};

/** The canonical resource API: one key is one resource, its revision is its ETag. */
@ApiTags(KEYS_TAG)
@ApiKeyAuth()
@Controller('keys')
export class KeysController {
  constructor(private readonly kv: KeyValueService) {}

  @Get()
  @ApiOperation({
    summary: 'List records in key order',
    description: 'Cursor pagination: pass the answer\'s `next` as `after`. Filter with `prefix` and/or `suffix`, as on `GET /search`.',
  })
  @ApiOkResponse({ type: RecordPageDto, headers: { Link: NEXT_LINK_HEADER } })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid limit or cursor.' })
  async list(@Query() query: KeyQueryDto, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<RecordPageDto> {
    const page = await this.kv.list(query);
    setNextLink(req, res, page.next);
    return { items: page.items.map(RecordDto.from), next: page.next };
  }

  @Get(':key')
  @ApiOperation({ summary: 'Get a record', description: 'The `ETag` header is the record\'s revision; `If-None-Match` with it answers 304.' })
  @ApiParam(KEY_PARAM)
  @ApiHeader({ name: 'If-None-Match', required: false, description: '`"<revision>"`: 304 Not Modified while the key is unchanged.' })
  @ApiOkResponse({ type: RecordDto, headers: { ETag: ETAG_HEADER } })
  @ApiResponse({ status: 304, description: 'Not modified.' })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid key.' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'Absent or expired.' })
  async get(
    @Param('key') key: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<RecordDto | undefined> {
    const record = await this.kv.get(key);
    res.setHeader('ETag', etagOf(record.revision));
    if (ifNoneMatch !== undefined) {
      const tags = parseEntityTags(ifNoneMatch, 'If-None-Match');
      if (tags === '*' || tags.includes(record.revision)) {
        res.status(304);
        return undefined;
      }
    }
    return RecordDto.from(record);
  }

  @Put(':key')
  @ApiOperation({
    summary: 'Create or replace a record',
    description: '201 when created (with `Location`), 200 when replaced. A write without `ttl` clears any earlier expiry.',
  })
  @ApiParam(KEY_PARAM)
  @ApiHeader(IF_MATCH)
  @ApiHeader({ name: 'If-None-Match', required: false, description: '`*`: create only; 412 if the key exists.' })
  @ApiCreatedResponse({
    type: RecordDto,
    description: 'Created.',
    headers: { ETag: ETAG_HEADER, Location: { description: 'The record\'s URL.', schema: { type: 'string' } } },
  })
  @ApiOkResponse({ type: RecordDto, description: 'Replaced.', headers: { ETag: ETAG_HEADER } })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Malformed JSON, unknown fields, missing value, invalid ttl or key.' })
  @ApiPreconditionFailedResponse({ type: ErrorResponseDto, description: 'If-Match or If-None-Match did not hold; nothing was written.' })
  @ApiPayloadTooLargeResponse({ type: ErrorResponseDto, description: 'A value over KV_MAX_VALUE_BYTES, or a body over KV_MAX_BODY_BYTES.' })
  @ApiUnsupportedMediaTypeResponse({ type: ErrorResponseDto, description: 'The body is not `application/json`.' })
  @ApiBody({ type: PutValueDto })
  async put(
    @Param('key') key: string,
    // Typed unknown so the global pipe leaves it alone: see toPutValue.
    @Body() raw: unknown,
    @Headers() headers: Record<string, string | undefined>,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<RecordDto> {
    const body = toPutValue(raw);
    const { record, created } = await this.kv.put(key, body.value, body.ttl, conditionsOf(headers));
    res.status(created ? 201 : 200).setHeader('ETag', etagOf(record.revision));
    if (created) res.setHeader('Location', req.originalUrl.split('?')[0]);
    return RecordDto.from(record);
  }

  @Delete(':key')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a record' })
  @ApiParam(KEY_PARAM)
  @ApiHeader(IF_MATCH)
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid key or header.' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'Absent or expired.' })
  @ApiPreconditionFailedResponse({ type: ErrorResponseDto, description: 'If-Match did not hold; nothing was deleted.' })
  async delete(@Param('key') key: string, @Headers() headers: Record<string, string | undefined>): Promise<void> {
    await this.kv.delete(key, conditionsOf(headers));
  }
}

function conditionsOf(headers: Record<string, string | undefined>): HttpConditions {
  const ifMatch = headers['if-match'];
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined && parseEntityTags(ifNoneMatch, 'If-None-Match') !== '*') {
    throw new InvalidRequestError('On writes If-None-Match supports only *');
  }
  return {
    ...(ifMatch !== undefined && { ifMatch: parseEntityTags(ifMatch, 'If-Match') }),
    ...(ifNoneMatch !== undefined && { ifNoneMatch: '*' as const }),
  };
}
