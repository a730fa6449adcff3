import { forbiddenReason, WebhookTargetPolicy } from './webhook-target.policy';

describe('forbiddenReason', () => {
  it.each([
    '127.0.0.1', '127.8.9.10', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '0.0.0.0',
    '100.64.0.1', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:7f00:1',
    // IPv6 forms that embed or translate an IPv4 address, and site-local
    '::127.0.0.1', '::7f00:1', '::8.8.8.8', '::ffff:0:127.0.0.1', '::ffff:0:7f00:1', '64:ff9b::7f00:1', '64:ff9b::8.8.8.8', '64:ff9b:1::a00:1',
    '2002:7f00:1::', '2002:a00:1::1', '2002:c0a8:101::', '2001:0:4136:e378:8000:63bf:3fff:fdd2', 'fec0::1', 'feff::1',
  ])('refuses %s', (address) => {
    expect(forbiddenReason(address)).toMatch(/internal address/);
  });

  it.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '2002:808:808::1', '2a00:1450::1'])('allows public %s', (address) => {
    expect(forbiddenReason(address)).toBeNull();
  });
});

describe('WebhookTargetPolicy', () => {
  it('accepts only absolute http and https URLs', () => {
    const policy = new WebhookTargetPolicy('');
    expect(policy.parse('https://hooks.example.com/x').hostname).toBe('hooks.example.com');
    expect(() => policy.parse('ftp://example.com')).toThrow(/http or https/);
    expect(() => policy.parse('file:///etc/passwd')).toThrow(/http or https/);
    expect(() => policy.parse('/relative')).toThrow(/valid absolute URL/);
    expect(() => policy.parse('http://hooks.example.com:0/x')).toThrow(/port must be from 1 to 65535/);
  });

  it('matches allowed hosts exactly, by *.domain pattern, and IP literals (v6 with or without brackets)', () => {
    const policy = new WebhookTargetPolicy(' hooks.internal , *.svc.cluster.local,127.0.0.1,[::1]');
    expect(policy.isAllowedHost('hooks.internal')).toBe(true);
    expect(policy.isAllowedHost('HOOKS.internal.')).toBe(true);
    expect(policy.isAllowedHost('a.svc.cluster.local')).toBe(true);
    expect(policy.isAllowedHost('svc.cluster.local')).toBe(false);
    expect(policy.isAllowedHost('evil-svc.cluster.local')).toBe(false);
    expect(policy.isAllowedHost('127.0.0.1')).toBe(true);
    expect(policy.isAllowedHost('[::1]')).toBe(true);
    expect(policy.isAllowedHost('127.0.0.2')).toBe(false);
  });

  it('refuses internal targets at registration unless allowed', async () => {
    const strict = new WebhookTargetPolicy('');
    await expect(strict.assertAllowed(new URL('http://127.0.0.1:8080/'))).rejects.toThrow(/not allowed/);
    await expect(strict.assertAllowed(new URL('http://[::1]/'))).rejects.toThrow(/not allowed/);
    await expect(strict.assertAllowed(new URL('http://localhost/'))).rejects.toThrow(/not allowed/);
    await expect(strict.assertAllowed(new URL('http://169.254.169.254/latest/meta-data'))).rejects.toThrow(/not allowed/);
    await expect(strict.assertAllowed(new URL('http://93.184.216.34/'))).resolves.toBeUndefined();
    await expect(new WebhookTargetPolicy('localhost').assertAllowed(new URL('http://localhost/'))).resolves.toBeUndefined();
  });

  it('refuses internal addresses again when connecting, so a name that re-resolves inward is caught', async () => {
    const lookup = (policy: WebhookTargetPolicy, host: string) =>
      new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
        policy.lookup(host, {}, (err, address) => resolve({ err, address })),
      );
    const refused = await lookup(new WebhookTargetPolicy(''), 'localhost');
    expect(refused.err?.code).toBe('EWEBHOOKREFUSED');
    const allowed = await lookup(new WebhookTargetPolicy('localhost'), 'localhost');
    expect(allowed.err).toBeNull();
    expect(['127.0.0.1', '::1']).toContain(allowed.address);
  });
});
