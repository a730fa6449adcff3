import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class DeadLetterDto {
  @ApiProperty({ example: 42 })
  revision!: number;
  @ApiProperty({ example: 'user:42' })
  key!: string;
  @ApiProperty({ example: 8 })
  attempts!: number;
  @ApiProperty({ example: 'HTTP 500' })
  error!: string;
  @ApiProperty({ format: 'date-time' })
  at!: string;
}

/** A subscription with its delivery state. The secret is never shown here. */
export class SubscriptionDto {
  @ApiProperty({ example: '0b0f7d8e-7d1a-4d8e-9a51-3f0f5b1c2d3e' })
  id!: string;

  @ApiProperty({ example: 'https://hooks.example.com/kv' })
  url!: string;

  @ApiProperty({ description: '`{"key"}`, `{"prefix"}`, `{"suffix"}`, or `{}` for every key.', example: { prefix: 'user:' } })
  filter!: Record<string, string>;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ type: Number, nullable: true, description: 'Revision of the last event delivered.', example: 41 })
  lastDeliveredRevision!: number | null;

  @ApiProperty({ description: 'Events waiting to be delivered (on the Redis driver, also events the filter will skip).', example: 0 })
  pending!: number;

  @ApiProperty({ description: 'Failed attempts since the last success.', example: 0 })
  consecutiveFailures!: number;

  @ApiProperty({ type: String, nullable: true, example: null })
  lastError!: string | null;

  @ApiProperty({ description: 'Events given up on after WEBHOOK_MAX_ATTEMPTS attempts (or dropped by a full queue).', example: 0 })
  deadLettered!: number;

  @ApiProperty({ type: [DeadLetterDto], description: 'The most recent dead letters.' })
  deadLetters!: DeadLetterDto[];
}

/** The 201 answer: the subscription, plus its secret when the server generated it. */
export class CreatedSubscriptionDto extends SubscriptionDto {
  @ApiPropertyOptional({ description: 'Only when the server generated the secret: shown this once, store it.', example: 'Zm9vYmFy...' })
  secret?: string;
}
