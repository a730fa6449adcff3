import type { OpenAPIObject } from '@nestjs/swagger';

type Operation = { parameters?: { name: string }[]; requestBody?: unknown; responses?: Record<string, ResponseObject> };
type ResponseObject = { description?: string; content?: Record<string, { schema?: { $ref?: string }; example?: unknown }> };

const ERROR_SCHEMA = '#/components/schemas/ErrorResponseDto';

/**
 * What the service answers with each error status on this operation, word for word as the code writes it, so the
 * docs page never shows one generic example (a 404 with an unrelated detail) under every error of every route.
 */
function exampleMessage(status: number, method: string, path: string, op: Operation): { message: string; details?: string[] } {
  const params = new Set((op.parameters ?? []).map((p) => p.name));
  const subscription = path.startsWith('/subscriptions');
  switch (status) {
    case 400:
      if (path === '/watch') return { message: 'since must be an event id (<keyspace>:<revision>, as the stream sends them) or a revision (a whole number from 0 to 2^53-1)' };
      if (path === '/set') return { message: 'A pair needs `value`: {"key": "<key>", "value": <any JSON>}' };
      if (params.has('key')) return { message: `Key must not be empty: ${method.toUpperCase()} ${path.replace('{key}', '')}{key}` };
      if (subscription && op.requestBody) return { message: 'Invalid request: url must be shorter than or equal to 2048 characters', details: ['url must be shorter than or equal to 2048 characters'] };
      if (params.has('limit')) return { message: 'Invalid request: limit must be an integer from 1 to 10000', details: ['limit must be an integer from 1 to 10000'] };
      return { message: 'Invalid request' };
    case 401:
      return { message: 'An API key is required: send Authorization: Bearer <key> or X-API-Key: <key>' };
    case 403:
      return subscription ? { message: 'This API key has the write role; this needs admin' } : { message: 'This API key has the read role; this needs write' };
    case 404:
      return subscription ? { message: 'Subscription not found' } : { message: 'Key not found' };
    case 409:
      return subscription ? { message: 'WEBHOOK_MAX_SUBSCRIPTIONS=1000 subscriptions exist; delete one first' } : { message: 'Key already exists', details: ['key_1'] };
    case 412:
      return { message: 'Precondition failed: the key is at 5f0c2a9be41d:9' };
    case 413:
      return { message: 'Request body exceeds KV_MAX_BODY_BYTES=1115136 bytes' };
    case 415:
      return { message: 'Content-Type must be application/json (got text/plain)' };
    case 429:
      return { message: 'Rate limit exceeded: RATE_LIMIT=100 requests per RATE_LIMIT_WINDOW_MS=1000' };
    case 503:
      return { message: 'store unavailable' };
    case 504:
      return { message: 'The write may have been applied: the store did not confirm it (Command timed out); read the key to find out before retrying' };
    case 507:
      return { message: 'The store holds 1073741000 bytes of keys and values; this write needs 1200 more and the limit is KV_MAX_STORE_BYTES=1073741824; delete keys, or raise the limit' };
    default:
      return { message: 'Internal server error' };
  }
}

/** Gives every error response of `document` an example with its own status and a message that route really sends. */
export function addErrorExamples(document: OpenAPIObject): OpenAPIObject {
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(methods as Record<string, Operation>)) {
      // Every key may read: a 403 cannot happen on a read of keys (the subscriptions need an admin key).
      if (method === 'get' && !path.startsWith('/subscriptions')) delete op.responses?.['403'];
      for (const [code, response] of Object.entries(op.responses ?? {})) {
        const status = Number(code);
        const json = response.content?.['application/json'];
        if (!(status >= 400) || json?.schema?.$ref !== ERROR_SCHEMA) continue;
        json.example = { status: 'error', statusCode: status, ...exampleMessage(status, method, path, op) };
      }
    }
  }
  return document;
}
