import { type ArgumentMetadata, Controller, Get, Req, Res } from '@nestjs/common';
import { ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyAuth } from '../auth/auth.decorators';
import { KeyQueryDto } from '../common/dto/key-query.dto';
import { setNextLink } from '../common/http/pagination';
import { KvValidationPipe } from '../common/validation/kv-validation.pipe';
import { SearchService } from './search.service';
import { ApiSearchKeys } from './search.docs';

export const SEARCH_TAG = 'search';

/** What the global pipe is told about `@Query() query: KeyQueryDto`. */
const KEY_QUERY: ArgumentMetadata = { type: 'query', metatype: KeyQueryDto };

@ApiTags(SEARCH_TAG)
@ApiKeyAuth()
@Controller('search')
export class SearchController {
  constructor(
    private readonly search: SearchService,
    private readonly validation: KvValidationPipe,
  ) {}

  // The query goes through the global validation pipe's instance, called here rather than by Nest for a `@Query()`
  // parameter: Nest chains four async functions and a Promise.all for each parameter a pipe runs on (see KvController).
  // The 400 answers and the OpenAPI document are the same.
  @Get()
  @ApiSearchKeys()
  @ApiQuery({ type: KeyQueryDto })
  async find(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<string[]> {
    const query = (await this.validation.transform(req.query, KEY_QUERY)) as KeyQueryDto;
    const page = await this.search.search(query);
    setNextLink(req, res, page.next);
    return page.keys;
  }
}
