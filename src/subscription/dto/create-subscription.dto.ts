import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { EventFilterDto } from './event-filter.dto';

/** `POST /subscriptions`: where to POST changes, which keys, and the signing secret. */
export class CreateSubscriptionDto extends EventFilterDto {
  @ApiProperty({ description: 'http or https URL that receives each change as a JSON POST.', example: 'https://hooks.example.com/kv' })
  @IsString()
  @MinLength(1)
  @MaxLength(2048)
  url!: string;

  @ApiPropertyOptional({
    description: 'HMAC-SHA256 key for `X-KV-Signature` (at least 16 characters). Omitted: the server generates one and returns it once, in the 201 answer.',
    example: 'a-long-random-shared-secret',
  })
  @IsOptional()
  @IsString()
  @MinLength(16)
  @MaxLength(256)
  secret?: string;
}
