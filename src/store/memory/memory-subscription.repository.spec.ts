import { MemoryChangeFeed } from './memory-change.feed';
import type { Subscription } from '../../subscription/subscription.repository';
import { MemorySubscriptionRepository } from './memory-subscription.repository';

const newFeed = () => new MemoryChangeFeed({ history: 10, historyBytes: 1024 }, { id: 'aaaaaaaaaaaa', base: 0 });

describe('MemorySubscriptionRepository as a snapshot section', () => {
  const subscription = (id: string, extra: Partial<Subscription> = {}): Omit<Subscription, 'startRevision'> => ({
    id,
    url: `https://hooks.example.com/${id}`,
    filter: { prefix: 'user:' },
    secret: `secret-${id}`,
    createdAt: '2026-01-01T00:00:00.000Z',
    ...extra,
  });

  it('dumps every field, secret and start revision included, and restores them all', async () => {
    const feed = newFeed();
    const source = new MemorySubscriptionRepository(feed);
    await source.create(subscription('a'), 10);
    feed.startAt({ id: 'aaaaaaaaaaaa', base: 0 }, 7);
    await source.create(subscription('b', { filter: {} }), 10);
    const dumped = JSON.parse(JSON.stringify(source.dump())) as unknown[];
    expect(dumped).toEqual([
      { ...subscription('a'), startRevision: 0 },
      { ...subscription('b', { filter: {} }), startRevision: 7 },
    ]);

    const target = new MemorySubscriptionRepository(newFeed());
    const install = target.prepareRestore(dumped);
    expect(await target.list()).toEqual([]); // nothing changes before the install
    install();
    expect(await target.list()).toEqual(await source.list());
    expect(await target.get('b')).toMatchObject({ secret: 'secret-b', startRevision: 7 });
  });

  it.each([
    [[42], 'item 1: a subscription must be an object'],
    [[{ ...subscription('a'), startRevision: 0, id: '' }], 'item 1: id must be a non-empty string'],
    [[{ ...subscription('a'), startRevision: 0, url: 'not a url' }], 'item 1: subscription a: url must be a URL'],
    [[{ ...subscription('a'), startRevision: 0, secret: 5 }], 'item 1: subscription a: secret must be a non-empty string'],
    [[{ ...subscription('a'), startRevision: -1 }], 'item 1: subscription a: startRevision must be a revision'],
    [[{ ...subscription('a'), startRevision: 0, createdAt: 'then' }], 'item 1: subscription a: createdAt must be a time'],
    [[{ ...subscription('a'), startRevision: 0, filter: { prefix: 'a', suffix: 'b' } }], 'item 1: subscription a: filter must be'],
    [[{ ...subscription('a'), startRevision: 0, filter: { other: 'x' } }], 'item 1: subscription a: filter must be'],
    [[{ ...subscription('a'), startRevision: 0 }, { ...subscription('a'), startRevision: 0 }], 'item 2: subscription a appears twice'],
  ])('refuses %j', (items, message) => {
    const repository = new MemorySubscriptionRepository(newFeed());
    expect(() => repository.prepareRestore(items)).toThrow(message);
  });
});
