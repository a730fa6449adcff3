import { trustProxySetting } from './trust-proxy';

describe('trustProxySetting', () => {
  it.each([
    ['', false],
    ['false', false],
    ['true', true],
    ['2', 2],
    ['loopback,10.0.0.0/8', 'loopback,10.0.0.0/8'],
  ])('reads TRUST_PROXY=%j as %j', (value, expected) => {
    expect(trustProxySetting(value)).toBe(expected);
  });
});
