import { applyDecorators } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { NEXT_LINK_HEADER } from '../common/http/pagination';

export const ApiSearchKeys = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({
      summary: 'Keys by prefix and/or suffix',
      description:
        'A JSON array of keys in Unicode code-point order. `prefix` and `suffix` together match keys that have both; neither ' +
        'matches every key; an empty filter is no filter. Answered from ordered indexes (O(log n + k)), not by scanning. ' +
        'Paginated like `GET /`: `limit`, `after`, and a `Link: <...>; rel="next"` header while more remain.',
    }),
    ApiOkResponse({
      description: 'Matching keys.',
      schema: { type: 'array', items: { type: 'string' }, example: ['abc-1', 'abc-2'] },
      headers: { Link: NEXT_LINK_HEADER },
    }),
    ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid limit, cursor or filter (e.g. a repeated parameter).' }),
  );
