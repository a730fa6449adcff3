import type { ChangeEvent, WatchSink } from '../change-feed';
import type { KeyspacePosition, Position } from '../keyspace';
import { MemoryChangeFeed } from './memory-change.feed';

const KS = 'aaaaaaaaaaaa';
const put = (revision: number): ChangeEvent => ({ type: 'put', key: `k${revision}`, value: revision, keyspace: KS, revision, time: new Date(0).toISOString() });
const at = (revision: number, keyspace: string | null = KS): Position => ({ keyspace, revision });

function feedOf(history: number, historyBytes = Number.POSITIVE_INFINITY, base = 0): MemoryChangeFeed {
  return new MemoryChangeFeed({ history, historyBytes }, { id: KS, base });
}

/** Publishes single-event batches, each of `bytes` bytes. */
function publish(feed: MemoryChangeFeed, revisions: number[], bytes = 100): void {
  for (const r of revisions) feed.publish([put(r)], [bytes]);
}

function recorder(): WatchSink & { seen: number[]; resets: number[]; resetTo: KeyspacePosition[] } {
  const seen: number[] = [];
  const resetTo: KeyspacePosition[] = [];
  return {
    seen,
    resetTo,
    get resets() {
      return resetTo.map((p) => p.revision);
    },
    events: (batch) => seen.push(...batch.map((e) => e.revision)),
    reset: (p) => resetTo.push(p),
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('MemoryChangeFeed', () => {
  it('replays retained events after `since`, then continues live with no gap or duplicate', () => {
    const feed = feedOf(10);
    publish(feed, range(1, 5));
    const sink = recorder();
    const watch = feed.watch(at(2), sink);
    feed.publish([put(6), put(7)], [100, 100]);
    expect(sink.seen).toEqual([3, 4, 5, 6, 7]);
    expect(sink.resets).toEqual([]);
    watch.stop();
    publish(feed, [8]);
    expect(sink.seen).toEqual([3, 4, 5, 6, 7]);
    expect(feed.watchers).toBe(0);
  });

  it('sends reset with the current revision when `since` is older than the history, then live events', () => {
    const feed = feedOf(3);
    publish(feed, range(1, 6));
    const exact = recorder();
    feed.watch(at(3), exact); // 4, 5, 6 are all retained
    expect(exact.seen).toEqual([4, 5, 6]);
    const stale = recorder();
    feed.watch(at(2), stale); // 3 is gone
    expect(stale.resets).toEqual([6]);
    expect(stale.seen).toEqual([]);
    publish(feed, [7]);
    expect(stale.seen).toEqual([7]);
  });

  it('resets a watcher that is ahead of the feed (a store that restarted empty)', () => {
    const feed = feedOf(10);
    publish(feed, [1]);
    const sink = recorder();
    feed.watch(at(500), sink);
    expect(sink.resets).toEqual([1]);
  });

  it('resets a watcher from another keyspace, even at a revision this one retains, and one from before this keyspace began', () => {
    const feed = feedOf(10, Number.POSITIVE_INFINITY, 40);
    publish(feed, [41, 42, 43]);
    const other = recorder();
    feed.watch(at(41, 'bbbbbbbbbbbb'), other);
    expect(other.resetTo).toEqual([{ keyspace: KS, revision: 43 }]);
    expect(other.seen).toEqual([]);
    const before = recorder();
    feed.watch(at(12, null), before); // a bare revision below the keyspace's base cannot be one of its own
    expect(before.resets).toEqual([43]);
    const bare = recorder();
    feed.watch(at(41, null), bare); // a bare revision is read in the current keyspace
    expect(bare.seen).toEqual([42, 43]);
  });

  it('watches live only with since null, and replays nothing when since is current', () => {
    const feed = feedOf(10);
    publish(feed, [1]);
    const live = recorder();
    feed.watch(null, live);
    const current = recorder();
    feed.watch(at(1), current);
    publish(feed, [2]);
    expect(live.seen).toEqual([2]);
    expect(current.seen).toEqual([2]);
  });

  it('delivers a batch in one call', () => {
    const feed = feedOf(10);
    const calls: number[][] = [];
    feed.watch(null, { events: (b) => calls.push(b.map((e) => e.revision)), reset: () => undefined });
    feed.publish([put(1), put(2), put(3)], [1, 1, 1]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('drops a sink that throws without starving the others', () => {
    const feed = feedOf(10);
    feed.watch(null, {
      events: () => {
        throw new Error('broken');
      },
      reset: () => undefined,
    });
    const ok = recorder();
    feed.watch(null, ok);
    publish(feed, [1, 2]);
    expect(ok.seen).toEqual([1, 2]);
    expect(feed.watchers).toBe(1);
  });

  it('keeps at most WATCH_HISTORY_BYTES of events, and always the newest one however large', () => {
    const feed = feedOf(1000, 1000);
    publish(feed, range(1, 30), 100);
    expect(feed.retained).toEqual({ events: 10, bytes: 1000 });
    feed.publish([put(31)], [5000]);
    expect(feed.retained).toEqual({ events: 1, bytes: 5000 });
    const sink = recorder();
    feed.watch(at(29), sink);
    expect(sink.resets).toEqual([31]);
  });

  it('replays a large backlog in slices of whole batches, only while the sink wants more, then goes live', () => {
    const feed = feedOf(10_000);
    // 400 batches of two events of 1 KiB: 800 KiB of history.
    for (let r = 1; r <= 800; r += 2) feed.publish([put(r), put(r + 1)], [1024, 1024]);
    const slices: number[][] = [];
    let room = true;
    const watch = feed.watch(at(0), {
      events: (batch) => {
        slices.push(batch.map((e) => e.revision));
        room = false; // the sink has taken what it can for now
      },
      reset: () => undefined,
      wantsMore: () => room,
    });
    // One slice before the sink said it had enough: about 64 KiB, never half a batch.
    expect(slices).toHaveLength(1);
    expect(slices[0].length % 2).toBe(0);
    expect(slices[0].length).toBeGreaterThanOrEqual(64);
    expect(slices[0].length).toBeLessThanOrEqual(66);
    expect(watch.live).toBe(false);
    publish(feed, [801]); // not delivered yet: the replay will read it from the history
    expect(slices.flat()).not.toContain(801);
    for (let i = 0; i < 100 && !watch.live; i++) {
      room = true;
      watch.resume();
    }
    expect(slices.flat()).toEqual(range(1, 801));
    expect(slices.length).toBeGreaterThan(10);
    expect(watch.live).toBe(true);
    publish(feed, [802]);
    expect(slices.flat()).toEqual(range(1, 802));
  });

  it('tells a paused replay that could not keep up (its history was trimmed meanwhile), or resets it without a lagged hook', () => {
    const feed = feedOf(100);
    publish(feed, range(1, 100), 64 * 1024);
    let lagged = 0;
    let room = true;
    const slow = feed.watch(at(0), { events: () => (room = false), reset: () => undefined, wantsMore: () => room, lagged: () => lagged++ });
    publish(feed, range(101, 300), 64 * 1024);
    room = true;
    slow.resume();
    expect(lagged).toBe(1);
    expect(feed.watchers).toBe(0);
    const plain = recorder();
    let open = true;
    const watch = feed.watch(at(200), {
      events: (batch) => {
        plain.events(batch);
        open = false;
      },
      reset: (position) => plain.reset(position),
      wantsMore: () => open,
    });
    publish(feed, range(301, 500));
    open = true;
    watch.resume();
    expect(plain.resets).toEqual([500]);
  });
});
