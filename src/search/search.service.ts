import { Injectable } from '@nestjs/common';
import { KeyValueStore, type KeyPage, type ListQuery } from '../store/kv.store';

/** Prefix and suffix search over the store's ordered key indexes. */
@Injectable()
export class SearchService {
  constructor(private readonly store: KeyValueStore) {}

  /** Matching keys in code-point order, one page at a time: O(log n + page), never a scan of the keyspace. */
  search(query: ListQuery): Promise<KeyPage> {
    return this.store.listKeys(query);
  }
}
