import { MemoryRecord } from './memory.record';

describe('MemoryRecord', () => {
  const times = [
    0,
    999,
    1000,
    Date.UTC(2026, 11, 2, 15, 41, 37, 123),
    Date.UTC(2054, 0, 1) + 1,
    // Outside V8's small integers as seconds from 2020: still exact (only boxed).
    Date.UTC(2300, 5, 6, 7, 8, 9, 999),
    -1,
    -1001,
    Date.UTC(1900, 0, 1, 0, 0, 0, 1),
    8.64e15,
    -8.64e15,
  ];

  it('gives back every time it was given, to the millisecond, in either field', () => {
    for (const createdAt of times) {
      for (const updatedAt of times) {
        const record = new MemoryRecord('k', 'v', 1, createdAt, updatedAt, null, 3);
        expect([record.createdAt, record.updatedAt]).toEqual([createdAt, updatedAt]);
      }
    }
  });

  it('hands readers a plain KvRecord with every field', () => {
    const created = Date.UTC(2026, 0, 1, 0, 0, 0, 7);
    const record = new MemoryRecord('a/b', { n: [1] }, 42, created, created + 86_400_123, created + 1e9, 9).toRecord();
    expect(record).toStrictEqual({ key: 'a/b', value: { n: [1] }, revision: 42, createdAt: created, updatedAt: created + 86_400_123, expiresAt: created + 1e9, size: 9 });
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(MemoryRecord.of(record).toRecord()).toStrictEqual(record);
  });
});
