import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { InvalidRequestError } from '../common/errors/domain.errors';

/** Addresses a webhook must not reach unless its host is explicitly allowed (server-side request forgery). */
const FORBIDDEN = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, including cloud metadata (169.254.169.254)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  FORBIDDEN.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 96], // unspecified, loopback, and IPv4-compatible ::a.b.c.d (deprecated: never a real destination)
  ['::ffff:0:0:0', 96], // IPv4-translated ::ffff:0:a.b.c.d (SIIT)
  ['64:ff9b::', 96], // NAT64, well-known prefix: it reaches any IPv4 address, internal ones included
  ['64:ff9b:1::', 48], // NAT64, local-use prefixes
  ['100::', 64], // discard
  ['2001::', 32], // Teredo: tunnels to an IPv4 address embedded (obfuscated) in it
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated, still routed inside some networks)
  ['ff00::', 8], // multicast
] as const) {
  FORBIDDEN.addSubnet(net, prefix, 'ipv6');
}

/** The IPv4 address a 6to4 address (2002:AABB:CCDD::/48) leads to, or null for any other address. */
function sixToFourTarget(address: string): string | null {
  const groups = expandIpv6(address);
  if (groups === null || groups[0] !== 0x2002) return null;
  return [groups[1] >> 8, groups[1] & 0xff, groups[2] >> 8, groups[2] & 0xff].join('.');
}

/** The eight 16-bit groups of an IPv6 address (with an embedded dotted IPv4 tail), or null if it is not one. */
function expandIpv6(address: string): number[] | null {
  if (isIP(address) !== 6) return null;
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const part = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const left = part(head);
  const right = part(tail);
  return tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * Why an address may not be used, or null when it may. IPv4-mapped IPv6 addresses (::ffff:127.0.0.1,
 * ::ffff:7f00:1) are judged by the IPv4 rules (BlockList maps them itself), and so is the IPv4 address a 6to4
 * address leads to; the other forms that embed or translate an IPv4 address are refused whole.
 */
export function forbiddenReason(address: string): string | null {
  const family = isIP(address);
  if (family === 0) return `${address} is not an IP address`;
  const internal = `${address} is a loopback, private, link-local or otherwise internal address`;
  if (FORBIDDEN.check(address, family === 4 ? 'ipv4' : 'ipv6')) return internal;
  const tunnelled = family === 6 ? sixToFourTarget(address) : null;
  if (tunnelled !== null && FORBIDDEN.check(tunnelled, 'ipv4')) return `${address} is a 6to4 address of ${tunnelled}, an internal address`;
  return null;
}

/** Thrown when a webhook target may not be called; the message says why. */
export class WebhookTargetRefusedError extends InvalidRequestError {}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * Decides which URLs webhooks may call. Only http and https; and the address the host resolves to must
 * be public unless the host matches WEBHOOK_ALLOWED_HOSTS. The address is checked when connecting (via
 * `lookup`), not only at registration, so a name that later resolves somewhere internal (DNS rebinding)
 * is refused too.
 */
export class WebhookTargetPolicy {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];

  /** @param allowedHosts comma-separated host names, `*.example.com` patterns or IP literals */
  constructor(allowedHosts: string) {
    for (const raw of allowedHosts.split(',')) {
      const host = normaliseHost(raw.trim());
      if (host === '') continue;
      if (host.startsWith('*.')) this.suffixes.push(host.slice(1));
      else this.exact.add(host);
    }
  }

  /** Parses and checks a URL's form (at registration and before each delivery). */
  parse(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new WebhookTargetRefusedError(`url is not a valid absolute URL: ${raw}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new WebhookTargetRefusedError(`url must use http or https, not ${url.protocol.slice(0, -1)}`);
    }
    if (url.port === '0') throw new WebhookTargetRefusedError('url port must be from 1 to 65535 (0 is no port)');
    return url;
  }

  isAllowedHost(hostname: string): boolean {
    const host = normaliseHost(hostname);
    return this.exact.has(host) || this.suffixes.some((suffix) => host.endsWith(suffix));
  }

  /** Resolves the URL's host now and refuses internal addresses (registration-time check). */
  async assertAllowed(url: URL): Promise<void> {
    const host = normaliseHost(url.hostname);
    if (this.isAllowedHost(host)) return;
    const addresses = isIP(host) ? [host] : await resolveAll(host);
    for (const address of addresses) {
      const reason = forbiddenReason(address);
      if (reason) throw new WebhookTargetRefusedError(`url host ${host} is not allowed: ${reason} (see WEBHOOK_ALLOWED_HOSTS)`);
    }
  }

  /** A `lookup` for http.request that refuses internal addresses at connection time. */
  readonly lookup = (hostname: string, options: object, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      if (!this.isAllowedHost(hostname)) {
        for (const { address } of addresses) {
          const reason = forbiddenReason(address);
          if (reason) return callback(Object.assign(new Error(`refused: ${reason}`), { code: 'EWEBHOOKREFUSED' }), []);
        }
      }
      const all = (options as { all?: boolean }).all;
      if (all) return callback(null, addresses);
      return callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

function normaliseHost(host: string): string {
  return host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

function resolveAll(host: string): Promise<string[]> {
  return new Promise((resolve, reject) =>
    dnsLookup(host, { all: true }, (err, addresses) =>
      err ? reject(new WebhookTargetRefusedError(`url host ${host} does not resolve (${err.code ?? err.message})`)) : resolve(addresses.map((a) => a.address)),
    ),
  );
}
