import { z } from 'zod';
import { blockCovers, blockOf, blockText, ipFamily, lowBitsSet } from '../request/ip.ts';

/**
 * `realIp`: whose X-Forwarded-For the router believes, in the terms of nginx's real_ip module
 * (`set_real_ip_from` → `from`, `real_ip_header` → `header`, `real_ip_recursive` → `recursive`).
 * Off unless configured. See src/request/client-address.ts for how the client is found.
 */

/** `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`, `::1`: an IPv4 or IPv6 address, or a CIDR block of either. */
export function trustedProxyProblem(value: string): string | undefined {
  const [address = '', bits, extra] = value.split('/');
  const family = ipFamily(address);
  const form = 'must be an IPv4 or IPv6 address or CIDR block, e.g. "10.0.0.0/8", "127.0.0.1", "fd00::/8"';
  if (!family || extra !== undefined || address.includes('%')) return `${form}; got ${JSON.stringify(value)}`;
  if (bits === undefined) return undefined;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max)
    return `the prefix length after "/" must be 0 to ${max} for an IPv${family} block; got ${JSON.stringify(value)}`;
  return undefined;
}

const trustedProxy = z.string().superRefine((value, ctx) => {
  const problem = trustedProxyProblem(value.trim());
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const REAL_IP_HEADERS = ['X-Forwarded-For', 'X-Real-IP'] as const;

export const realIpSchema = z.strictObject({
  /** The balancers and proxies in front whose header is believed (nginx `set_real_ip_from`); list only those. */
  from: z.array(trustedProxy).min(1, 'must list the addresses or CIDR blocks of the proxies in front, e.g. ["10.0.0.0/8"]'),
  /** The header that carries the client's address (nginx `real_ip_header`). */
  header: z
    .string()
    .transform((name, ctx) => {
      const known = REAL_IP_HEADERS.find((header) => header.toLowerCase() === name.toLowerCase());
      if (known) return known;
      ctx.addIssue({
        code: 'custom',
        message:
          `must be "X-Forwarded-For" or "X-Real-IP"; got ${JSON.stringify(name)}` +
          (name.toLowerCase() === 'proxy_protocol' ? ' (for the PROXY protocol set "proxyProtocol": true on the listener instead)' : ''),
      });
      return z.NEVER;
    })
    .default('X-Forwarded-For'),
  /**
   * true (nginx `real_ip_recursive on`): the client is the rightmost address of the header that is not
   * itself in `from`; false: the header's last address, whatever it is. Default true (issue 21: the
   * rightmost untrusted hop is the client), where nginx's default is off; import-nginx writes nginx's value out.
   */
  recursive: z.boolean().default(true),
});

export type RealIpConfig = z.output<typeof realIpSchema>;

/**
 * What `check` says of `realIp.from` entries that are valid but not what they look like (each
 * entry is read as request/ip.ts `blockOf` reads it, so the router works as the warning says):
 * - a block taking in every address of a family (`0.0.0.0/0`, `::/0`): any client can name its own
 *   address (and open or follow another client's push session); a router reached only through
 *   balancers may mean it, so a warning, not a refusal;
 * - spaces around an entry (ignored);
 * - address bits below the prefix (`10.0.0.1/8` means `10.0.0.0/8`; nginx warns "low address bits
 *   … are meaningless");
 * - an IPv4-mapped IPv6 entry (`::ffff:127.0.0.1`, `::ffff:127.0.0.0/104`): an IPv4 client is
 *   compared as IPv4, so the entry is read as its IPv4 form;
 * - an entry another one already takes in (a repeat, or `10.1.0.0/16` beside `10.0.0.0/8`).
 */
export function realIpWarnings(realIp: RealIpConfig | undefined): string[] {
  const from = realIp?.from ?? [];
  const blocks = from.map(blockOf);
  return from.flatMap((entry, i) => {
    const field = `realIp.from[${i}]: ${JSON.stringify(entry)}`;
    const block = blocks[i]!;
    const text = entry.trim();
    const meant = blockText(block);
    const out: string[] = [];
    if (block[1] === 0) {
      out.push(
        `${field} trusts every ${block[0].kind() === 'ipv4' ? 'IPv4' : 'IPv6'} address, so any client can set its own ` +
          `address with ${realIp!.header}; list only your balancers' addresses`,
      );
    }
    if (text !== entry) out.push(`${field} has spaces around it; they are ignored: write ${JSON.stringify(text)}`);
    const mapped = text.includes(':') && block[0].kind() === 'ipv4';
    if (mapped) out.push(`${field} is an IPv4-mapped IPv6 address; IPv4 clients are compared as IPv4, so it is read as ${JSON.stringify(meant)}: write that`);
    else if (lowBitsSet(text)) {
      out.push(`${field} has address bits below its prefix length, ignored (nginx: "low address bits … are meaningless"): it means ${JSON.stringify(meant)}`);
    }
    const wider = blocks.findIndex((other, j) => j !== i && blockCovers(other, block) && (!blockCovers(block, other) || j < i));
    if (wider >= 0) out.push(`${field} is already taken in by realIp.from[${wider}] ${JSON.stringify(from[wider])}: remove it`);
    return out;
  });
}
