import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { JsonValue } from '../../store/kv.store';

/** `POST /set` success envelope, as the seed services answered it. */
export class SetResponseDto {
  @ApiProperty({ enum: ['success'], example: 'success' })
  status!: 'success';

  @ApiProperty({ example: 'key-value pair is set successfully' })
  message!: string;

  @ApiPropertyOptional({ description: 'Number of pairs written; present when the body was a map of pairs.', example: 4 })
  count?: number;
}

/** `GET /get/:key` answer, as the seed services answered it. */
export class PairDto {
  @ApiProperty({ example: 'key_1' })
  key!: string;

  @ApiProperty({ description: 'Any JSON value.', example: 'value_1' })
  value!: JsonValue;
}
