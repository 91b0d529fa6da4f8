/**
 * nginx's real_ip module → the router's one `realIp` (import-nginx, issue 21). nginx sets it per
 * http, server and location block: a block's own `set_real_ip_from` list replaces the inherited one,
 * `real_ip_header` (default X-Real-IP) and `real_ip_recursive` (default off) are inherited where not
 * set (ngx_http_realip_module's merge). The router has one `realIp` for every site, so the blocks in
 * force are combined without widening trust: one header or none (two headers: nothing carried, each
 * listed), only the proxies every block trusts (the rest listed), `recursive` on only where all had
 * it on. A site whose nginx block read no such header is named in a note: the router believes the
 * header there too.
 */
import type { ConfigInput } from '../config/schema.ts';
import { REAL_IP_HEADERS, trustedProxyProblem } from '../config/real-ip.ts';
import { blockCovers, blockOf, blockText, type Block } from '../request/ip.ts';
import type { Directive } from './nginx-syntax.ts';

/** The real_ip settings in force in one server or location block. */
export interface RealIpScope {
  /** `server registry.example.com`, `server registry.example.com location /v2/`. */
  where: string;
  /** `set_real_ip_from` in force (its own or inherited). */
  from: readonly Directive[];
  header?: Directive;
  recursive?: Directive;
  /** A listener of this server has `proxy_protocol`. */
  proxyProtocol: boolean;
}

/** Where the combination's findings go: the importer's untranslated list and its notes. */
export interface RealIpSink {
  report(directive: Directive, why: string): void;
  note(text: string, where?: Directive): void;
}

interface HeaderScope {
  scope: RealIpScope;
  header: (typeof REAL_IP_HEADERS)[number];
  blocks: Array<{ block: Block; directive: Directive }>;
  recursive: boolean;
}

const value = (d: Directive | undefined) => d?.args[0]?.value ?? '';

/**
 * The router's `realIp` from the real_ip settings of every server and location block that serves a
 * site (`scopes`), or undefined when none reads a header the router can; what is not carried goes to
 * `sink.report`, what changes to `sink.note`.
 */
export function combineRealIp(scopes: readonly RealIpScope[], listensWithProxyProtocol: boolean, sink: RealIpSink): ConfigInput['realIp'] {
  const readers: HeaderScope[] = [];
  const others: RealIpScope[] = [];
  let proxyHeader = false;
  for (const scope of scopes) {
    const blocks: HeaderScope['blocks'] = [];
    for (const d of scope.from) {
      const text = value(d);
      const problem = trustedProxyProblem(text);
      if (problem) sink.report(d, text.startsWith('unix:') ? 'a Unix socket peer is not a TCP address' : `${problem} (host names are not resolved)`);
      else blocks.push({ block: blockOf(text), directive: d });
    }
    const name = scope.header ? value(scope.header) : 'X-Real-IP';
    if (!blocks.length) {
      if (!scope.from.length && (scope.header || scope.recursive)) {
        sink.report(scope.header ?? scope.recursive!, 'real_ip without set_real_ip_from trusts no proxy: nothing to carry over');
      }
      others.push(scope);
      continue;
    }
    if (name.toLowerCase() === 'proxy_protocol') {
      proxyHeader = true;
      if (!scope.proxyProtocol) sink.report(scope.header!, 'no listener has proxy_protocol: no PROXY header is read');
      else {
        sink.note(
          'real_ip_header proxy_protocol → "proxyProtocol": true on the listener; the router believes the PROXY header from any peer ' +
            `(nginx: only from set_real_ip_from ${uniqueTexts(blocks.map((b) => b.block)).join(', ')}): let only your balancers reach those ports`,
          scope.header,
        );
      }
      others.push(scope);
      continue;
    }
    const header = REAL_IP_HEADERS.find((known) => known.toLowerCase() === name.toLowerCase());
    if (!header) {
      sink.report(scope.header!, "the router reads the client's address from X-Forwarded-For or X-Real-IP only");
      others.push(scope);
      continue;
    }
    readers.push({ scope, header, blocks, recursive: value(scope.recursive) === 'on' });
  }
  if (!readers.length) {
    if (listensWithProxyProtocol && !proxyHeader) {
      sink.note(
        'listen … proxy_protocol → "proxyProtocol": true; nginx kept the balancer as $remote_addr without real_ip_header proxy_protocol, ' +
          "the router takes the PROXY header's address as the client",
      );
    }
    return undefined;
  }
  const described = (r: HeaderScope) =>
    `${r.scope.where}: ${r.header} from ${uniqueTexts(r.blocks.map((b) => b.block)).join(', ')}${r.recursive ? ', recursive' : ''}`;
  const distinct = <T>(items: T[]) => [...new Set(items)];

  // Two headers: whichever the router took, a proxy of the other kind may pass its client's own value through.
  if (distinct(readers.map((r) => r.header)).length > 1) {
    const why =
      `the router has one "realIp" for every site and nginx's blocks read different headers (${distinct(readers.map(described)).join('; ')}): ` +
      'none carried over, as believing a header a proxy does not set would let clients name their own address; write "realIp" by hand';
    for (const r of readers) for (const d of directivesOf(r)) sink.report(d, why);
    return undefined;
  }
  const header = readers[0]!.header;

  // Only what every block trusts: a block (entry) kept when each reader has one covering it; CIDR blocks nest or are apart.
  const candidates = readers.flatMap((r) => r.blocks.map((b) => b.block));
  const common = candidates.filter((block) => readers.every((r) => r.blocks.some((b) => blockCovers(b.block, block))));
  const kept = uniqueBlocks(common).filter((block, i, all) => !all.some((other, j) => j !== i && blockCovers(other, block) && !blockCovers(block, other)));
  for (const r of readers) {
    for (const { block, directive } of r.blocks) {
      if (kept.some((k) => blockCovers(k, block))) continue;
      const part = kept.filter((k) => blockCovers(block, k));
      const narrower = readers.filter((other) => !other.blocks.some((b) => blockCovers(b.block, block))).map((other) => other.scope.where);
      const share = part.length ? `only ${part.map(blockText).join(', ')} of it` : 'none of it';
      sink.report(
        directive,
        `${r.scope.where} trusts ${blockText(block)}, ${distinct(narrower).join(', ')} ${share}: ` +
          `the router's one "realIp" trusts only the proxies every server trusts${kept.length ? ` (${kept.map(blockText).join(', ')})` : ''}`,
      );
    }
  }
  if (!kept.length) {
    for (const r of readers) for (const d of directivesOf(r)) sink.report(d, 'no proxy is trusted by every server: no "realIp" carried over');
    return undefined;
  }

  // real_ip_recursive on only where every block had it: off elsewhere took the header's last address.
  const recursive = readers.every((r) => r.recursive);
  if (!recursive) {
    const off = distinct(readers.filter((r) => !r.recursive).map((r) => r.scope.where));
    for (const r of readers) {
      if (r.recursive) {
        sink.report(
          r.scope.recursive!,
          `real_ip_recursive on here, off in ${off.join(', ')}: the router's one "realIp" takes "recursive": false (the header's last address)`,
        );
      }
    }
  }
  for (const r of readers) {
    for (const d of directivesOf(r)) {
      sink.note('set_real_ip_from, real_ip_header, real_ip_recursive → "realIp": one for every site (nginx: per http, server or location block)', d);
    }
  }
  const unread = distinct(others.map((scope) => scope.where));
  if (unread.length) {
    sink.note(
      `"realIp" is for every site: ${unread.join(', ')} read no ${header} in nginx; the router believes it there too from ${kept.map(blockText).join(', ')}`,
    );
  }
  return { from: kept.map(blockText), header, recursive };
}

/** A block's set_real_ip_from, real_ip_header and real_ip_recursive in force. */
function directivesOf(r: HeaderScope): Directive[] {
  return [...r.blocks.map((b) => b.directive), ...(r.scope.header ? [r.scope.header] : []), ...(r.scope.recursive ? [r.scope.recursive] : [])];
}

function uniqueBlocks(blocks: readonly Block[]): Block[] {
  const seen = new Set<string>();
  return blocks.filter((block) => {
    const text = blockText(block);
    if (seen.has(text)) return false;
    seen.add(text);
    return true;
  });
}

function uniqueTexts(blocks: readonly Block[]): string[] {
  return uniqueBlocks(blocks).map(blockText);
}
