import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** The one shape every error response has. */
export class ErrorResponseDto {
  @ApiProperty({ enum: ['error'], example: 'error' })
  status!: 'error';

  @ApiProperty({ example: 404, description: 'The HTTP status code, repeated for clients that only see the body.' })
  statusCode!: number;

  @ApiProperty({ example: 'Key not found' })
  message!: string;

  @ApiPropertyOptional({
    type: 'array',
    items: {},
    description: 'Machine-readable specifics: the failing validation rules, or the keys a batch failed on.',
  })
  details?: unknown[];
}
