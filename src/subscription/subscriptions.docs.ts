import { applyDecorators } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { CreatedSubscriptionDto, SubscriptionDto } from './dto/subscription.dto';

export const ApiCreateSubscription = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({
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
    }),
    ApiCreatedResponse({ type: CreatedSubscriptionDto, description: 'Created; the answer carries the signing secret, shown this once.' }),
    ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid body, more than one filter, or a refused url (the message says why).' }),
    ApiConflictResponse({ type: ErrorResponseDto, description: 'WEBHOOK_MAX_SUBSCRIPTIONS reached.' }),
    ApiUnsupportedMediaTypeResponse({ type: ErrorResponseDto, description: 'The body is not `application/json`.' }),
  );

export const ApiListSubscriptions = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({ summary: 'List webhooks with their delivery state (the seeds\' `suball`)' }),
    ApiOkResponse({ type: [SubscriptionDto], description: 'Every subscription with its delivery state (never its secret).' }),
  );

export const ApiGetSubscription = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({ summary: 'One webhook and its delivery state' }),
    ApiOkResponse({ type: SubscriptionDto, description: 'The subscription and its delivery state (never its secret).' }),
    ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No subscription with this id.' }),
  );

export const ApiDeleteSubscription = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({ summary: 'Remove a webhook (undelivered events are dropped)' }),
    ApiNoContentResponse({ description: 'Removed.' }),
    ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No subscription with this id.' }),
  );
