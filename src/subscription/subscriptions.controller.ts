import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import { ApiKeyAuth } from '../auth/auth.decorators';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { CreateSubscriptionDto } from './dto/create-subscription.dto';
import { CreatedSubscriptionDto, SubscriptionDto } from './dto/subscription.dto';
import { SubscriptionsService } from './subscriptions.service';

export const SUBSCRIPTIONS_TAG = 'subscriptions';

@ApiTags(SUBSCRIPTIONS_TAG)
@ApiKeyAuth('admin')
@Controller('subscriptions')
export class SubscriptionsController {
  constructor(private readonly subscriptions: SubscriptionsService) {}

  @Post()
  @ApiOperation({
    summary: 'Register a webhook',
    description: [
      'Each matching change is POSTed to `url` as the event JSON, in revision order, with `X-KV-Signature: sha256=<hex HMAC-SHA256 ' +
        'of the raw body>`, `X-KV-Revision` and `X-KV-Delivery` (the same on every attempt of one event). Only changes after ' +
        'registration are sent.',
      'A 2xx within WEBHOOK_TIMEOUT_MS is a delivery; anything else is retried with exponential backoff and jitter ' +
        '(WEBHOOK_RETRY_BASE_MS doubling, at most WEBHOOK_RETRY_MAX_MS) up to WEBHOOK_MAX_ATTEMPTS attempts, then dead-lettered.',
      'The url must be http or https and must not resolve to a loopback, private, link-local (cloud metadata) or unspecified ' +
        'address, unless its host is in WEBHOOK_ALLOWED_HOSTS; this is checked here and again at every delivery.',
    ].join('\n\n'),
  })
  @ApiCreatedResponse({ type: CreatedSubscriptionDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid body, more than one filter, or a refused url (the message says why).' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'WEBHOOK_MAX_SUBSCRIPTIONS reached.' })
  @ApiUnsupportedMediaTypeResponse({ type: ErrorResponseDto, description: 'The body is not `application/json`.' })
  create(@Body() body: CreateSubscriptionDto): Promise<CreatedSubscriptionDto> {
    return this.subscriptions.create(body);
  }

  @Get()
  @ApiOperation({ summary: 'List webhooks with their delivery state (the seeds\' `suball`)' })
  @ApiOkResponse({ type: [SubscriptionDto] })
  list(): Promise<SubscriptionDto[]> {
    return this.subscriptions.list();
  }

  @Get(':id')
  @ApiOperation({ summary: 'One webhook and its delivery state' })
  @ApiOkResponse({ type: SubscriptionDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<SubscriptionDto> {
    return this.subscriptions.get(id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a webhook (undelivered events are dropped)' })
  @ApiNoContentResponse({ description: 'Removed.' })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  async delete(@Param('id') id: string): Promise<void> {
    await this.subscriptions.delete(id);
  }
}
