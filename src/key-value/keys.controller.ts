import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Put, Query, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyAuth } from '../auth/auth.decorators';
import { InvalidRequestError, PreconditionFailedError } from '../common/errors/domain.errors';
import { ConditionalRoute, etagOf, parseEntityTags } from '../common/http/conditional';
import { formatPosition, type KeyspacePosition } from '../store/keyspace';
import { setNextLink } from '../common/http/pagination';
import { KeyQueryDto } from '../common/dto/key-query.dto';
import { toPutValue } from './dto/put-value.dto';
import { RecordDto, RecordPageDto } from './dto/record.dto';
import { type HttpConditions, KeyValueService } from './key-value.service';
import { ApiListRecords, ApiGetRecord, ApiPutRecord, ApiDeleteRecord } from './keys.docs';

export const KEYS_TAG = 'keys';

/** The canonical resource API: one key is one resource, its revision is its ETag. */
@ApiTags(KEYS_TAG)
@ApiKeyAuth()
@Controller('keys')
export class KeysController {
  constructor(private readonly kv: KeyValueService) {}

  @Get()
  @ApiListRecords()
  async list(@Query() query: KeyQueryDto, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<RecordPageDto> {
    const page = await this.kv.list(query);
    setNextLink(req, res, page.next);
    const { id: keyspace } = this.kv.keyspace;
    return { items: page.items.map((record) => RecordDto.from(record, keyspace)), next: page.next };
  }

  @Get(':key')
  @ConditionalRoute()
  @ApiGetRecord()
  async get(
    @Param('key') key: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Headers('if-match') ifMatch: string | undefined,
    @Headers('if-unmodified-since') ifUnmodifiedSince: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<RecordDto | undefined> {
    if (ifUnmodifiedSince !== undefined) throw new InvalidRequestError('If-Unmodified-Since is not supported: records have revisions, use If-Match with the ETag');
    const record = await this.kv.get(key);
    const { id: keyspace } = this.kv.keyspace;
    res.setHeader('ETag', etagOf({ keyspace, revision: record.revision }));
    const current = (tags: '*' | KeyspacePosition[]) => tags === '*' || tags.some((tag) => tag.keyspace === keyspace && tag.revision === record.revision);
    if (ifMatch !== undefined && !current(parseEntityTags(ifMatch, 'If-Match'))) {
      throw new PreconditionFailedError(`Precondition failed: the key is at ${formatPosition({ keyspace, revision: record.revision })}`);
    }
    if (ifNoneMatch !== undefined) {
      if (current(parseEntityTags(ifNoneMatch, 'If-None-Match'))) {
        res.status(304);
        return undefined;
      }
    }
    return RecordDto.from(record, keyspace);
  }

  @Put(':key')
  @ConditionalRoute()
  @ApiPutRecord()
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
    const { id: keyspace } = this.kv.keyspace;
    res.status(created ? 201 : 200).setHeader('ETag', etagOf({ keyspace, revision: record.revision }));
    if (created) res.setHeader('Location', req.originalUrl.split('?')[0]);
    return RecordDto.from(record, keyspace);
  }

  @Delete(':key')
  @ConditionalRoute()
  @HttpCode(204)
  @ApiDeleteRecord()
  async delete(@Param('key') key: string, @Headers() headers: Record<string, string | undefined>): Promise<void> {
    await this.kv.delete(key, conditionsOf(headers));
  }
}

function conditionsOf(headers: Record<string, string | undefined>): HttpConditions {
  if (headers['if-unmodified-since'] !== undefined) {
    throw new InvalidRequestError('If-Unmodified-Since is not supported: records have revisions, use If-Match with the ETag');
  }
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
