/** Metric names, shared by the providers and the code that records them. */
export const HTTP_REQUEST_DURATION = 'http_request_duration_seconds';
export const HTTP_REQUESTS_TOTAL = 'http_requests_total';
export const KV_KEYS = 'kv_keys';
export const KV_WATCH_STREAMS = 'kv_watch_streams';
export const KV_WATCH_OVERFLOWS_TOTAL = 'kv_watch_overflows_total';
export const KV_EVENTS_TOTAL = 'kv_events_total';
export const KV_WEBHOOK_DELIVERIES_TOTAL = 'kv_webhook_deliveries_total';
export const KV_STORE_OPERATION_DURATION = 'kv_store_operation_duration_seconds';
export const KV_KEYSPACE_CHANGES_TOTAL = 'kv_keyspace_changes_total';
export const KV_KEYSPACE_INFO = 'kv_keyspace_info';
export const KV_STORE_UP = 'kv_store_up';
export const KV_BUILD_INFO = 'kv_build_info';

/** Route label of requests that matched no route: one series, however many unknown paths are tried. */
export const UNMATCHED_ROUTE = 'unmatched';
