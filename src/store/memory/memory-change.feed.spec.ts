import type { ChangeEvent, WatchSink } from '../change-feed';
import { MemoryChangeFeed } from './memory-change.feed';

const put = (revision: number): ChangeEvent => ({ type: 'put', key: `k${revision}`, value: revision, revision, time: new Date(0).toISOString() });

function recorder(): WatchSink & { seen: number[]; resets: number[] } {
  const seen: number[] = [];
  const resets: number[] = [];
  return { seen, resets, events: (batch) => seen.push(...batch.map((e) => e.revision)), reset: (r) => resets.push(r) };
}

describe('MemoryChangeFeed', () => {
  it('replays retained events after `since`, then continues live with no gap or duplicate', () => {
    const feed = new MemoryChangeFeed(10);
    for (let r = 1; r <= 5; r++) feed.publish([put(r)]);
    const sink = recorder();
    const stop = feed.watch(2, sink);
    feed.publish([put(6), put(7)]);
    expect(sink.seen).toEqual([3, 4, 5, 6, 7]);
    expect(sink.resets).toEqual([]);
    stop();
    feed.publish([put(8)]);
    expect(sink.seen).toEqual([3, 4, 5, 6, 7]);
    expect(feed.watchers).toBe(0);
  });

  it('sends reset with the current revision when `since` is older than the history, then live events', () => {
    const feed = new MemoryChangeFeed(3);
    for (let r = 1; r <= 6; r++) feed.publish([put(r)]);
    const exact = recorder();
    feed.watch(3, exact); // 4, 5, 6 are all retained
    expect(exact.seen).toEqual([4, 5, 6]);
    const stale = recorder();
    feed.watch(2, stale); // 3 is gone
    expect(stale.resets).toEqual([6]);
    expect(stale.seen).toEqual([]);
    feed.publish([put(7)]);
    expect(stale.seen).toEqual([7]);
  });

  it('resets a watcher that is ahead of the feed (a store that restarted empty)', () => {
    const feed = new MemoryChangeFeed(10);
    feed.publish([put(1)]);
    const sink = recorder();
    feed.watch(500, sink);
    expect(sink.resets).toEqual([1]);
  });

  it('watches live only with since null, and replays nothing when since is current', () => {
    const feed = new MemoryChangeFeed(10);
    feed.publish([put(1)]);
    const live = recorder();
    feed.watch(null, live);
    const current = recorder();
    feed.watch(1, current);
    feed.publish([put(2)]);
    expect(live.seen).toEqual([2]);
    expect(current.seen).toEqual([2]);
  });

  it('delivers a batch in one call', () => {
    const feed = new MemoryChangeFeed(10);
    const calls: number[][] = [];
    feed.watch(null, { events: (b) => calls.push(b.map((e) => e.revision)), reset: () => undefined });
    feed.publish([put(1), put(2), put(3)]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('drops a sink that throws without starving the others', () => {
    const feed = new MemoryChangeFeed(10);
    feed.watch(null, { events: () => { throw new Error('broken'); }, reset: () => undefined });
    const ok = recorder();
    feed.watch(null, ok);
    feed.publish([put(1)]);
    feed.publish([put(2)]);
    expect(ok.seen).toEqual([1, 2]);
    expect(feed.watchers).toBe(1);
  });
});
