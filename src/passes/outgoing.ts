import type { Exchange, OutgoingPass, OutgoingRequest } from '../exchange.ts';
import { HeaderFields } from '../header-fields.ts';
import { tallyBody } from './body-tally.ts';
import { etagSuffix } from './body-urls.ts';
import { dropHopByHopHeaders } from './hop-by-hop.ts';

/** The upstream URL: its prefix, then the client's path (less a rule's `stripPrefix`) and query exactly as they came. */
export const targetUrl: OutgoingPass = (exchange, outgoing) => {
  outgoing.url = exchange.upstream.target((exchange.upstreamPath ?? exchange.url.pathname) + exchange.url.search);
};

export const dropHopByHop: OutgoingPass = (exchange, outgoing) => {
  // None to drop (the guard saw every field): no delete per name, no walk.
  if (exchange.relayFields === false) return;
  dropHopByHopHeaders(outgoing.headers);
  // `Expect: 100-continue` was already answered by our server; fetch clients refuse to send it.
  outgoing.headers.delete('expect');
};

/**
 * The client's Host, port included (nginx's `$host` drops the port, and upload `Location`s then
 * point at the wrong one); or the upstream's own when the site opts out.
 */
export const hostHeader: OutgoingPass = (exchange, outgoing) => {
  outgoing.headers.set('host', exchange.site.preserveHost ? exchange.url.host : exchange.upstream.host);
};

/**
 * X-Forwarded-For: what arrived, then the client's address; X-Real-IP: the client's address. The
 * client is the one request/client-address.ts found: the TCP peer, the PROXY protocol's source, or,
 * from a proxy listed in `realIp.from`, the address its header names. This is nginx's
 * `$proxy_add_x_forwarded_for` with the real_ip module on (it appends `$remote_addr`, the address
 * found): behind a trusted balancer the list ends in the client twice (`client, client`), so an
 * origin that reads the last hop, or the first, finds the client either way.
 */
export const forwardedFor: OutgoingPass = (exchange, outgoing) => {
  const prior = exchange.relayFields === false ? null : outgoing.headers.get('x-forwarded-for');
  outgoing.headers.set('x-forwarded-for', prior ? `${prior}, ${exchange.clientAddress}` : exchange.clientAddress);
  outgoing.headers.set('x-real-ip', exchange.clientAddress);
};

/** The scheme the client really used, so the origin builds URLs the client can follow. */
export const forwardedProto: OutgoingPass = (exchange, outgoing) => {
  outgoing.headers.set('x-forwarded-proto', exchange.url.protocol.slice(0, -1));
};

/**
 * The public name in `X-Forwarded-Host` without its port, and the port in `X-Forwarded-Port`: one
 * value each, replacing whatever the client sent (Nexus puts a joined list verbatim into URLs).
 * Nexus 3.78+ appends the port to an `X-Forwarded-Host` that already carries one and builds
 * `realm="https://host:5001:5001/v2/token"` (sonatype/nexus-public #611, #651); Distribution and
 * Jetty join the two headers back into `host:port`. The port is always sent, 80/443 included.
 */
export const forwardedHost: OutgoingPass = (exchange, outgoing) => {
  if (exchange.site.forwardedHost) {
    const { url } = exchange;
    outgoing.headers.set('x-forwarded-host', url.hostname);
    outgoing.headers.set('x-forwarded-port', url.port || (url.protocol === 'https:' ? '443' : '80'));
  } else if (exchange.relayFields !== false) {
    outgoing.headers.delete('x-forwarded-host');
    outgoing.headers.delete('x-forwarded-port');
  }
};

/**
 * For answers whose URLs get mapped (passes/body-urls.ts): ask for identity encoding, so the
 * router need not decode, and take the router's ETag suffix off `If-None-Match`, so the upstream
 * can still answer 304.
 */
export const mappedConditionals: OutgoingPass = (exchange, outgoing) => {
  if (!exchange.mapUrls) return;
  outgoing.headers.set('accept-encoding', 'identity');
  const tags = outgoing.headers.get('if-none-match');
  if (tags) outgoing.headers.set('if-none-match', tags.replaceAll(`${etagSuffix(exchange)}"`, '"'));
};

/** The credentials an upload capability carried (src/edge/uploads.ts) replace whatever the request had. */
export const restoredAuthorization: OutgoingPass = (exchange, outgoing) => {
  if (exchange.restoredAuthorization === undefined) return;
  if (exchange.restoredAuthorization === null) outgoing.headers.delete('authorization');
  else outgoing.headers.set('authorization', exchange.restoredAuthorization);
};

/** Counts the request body and enforces the site's cap while it streams. */
export const requestBodyTally: OutgoingPass = (exchange, outgoing) => {
  if (!outgoing.body) return;
  outgoing.body = tallyBody(
    outgoing.body,
    (total) => {
      exchange.tally.bytesIn = total;
      if (exchange.site.maxBodySize > 0 && total > exchange.site.maxBodySize) exchange.tally.bodyTooLarge = true;
    },
    exchange.site.maxBodySize,
  );
};

export const outgoingPasses: readonly OutgoingPass[] = [
  targetUrl,
  dropHopByHop,
  hostHeader,
  forwardedFor,
  forwardedProto,
  forwardedHost,
  mappedConditionals,
  restoredAuthorization,
  requestBodyTally,
];

/**
 * The request as it goes to `exchange.upstream`: its URL, method, a copy of its fields that
 * `passes` edit (see copyFields), its body (none for GET/HEAD) and the client's signal.
 */
export function buildOutgoing(exchange: Exchange, passes: readonly OutgoingPass[] = outgoingPasses): OutgoingRequest {
  const { request } = exchange;
  const outgoing: OutgoingRequest = {
    url: '',
    method: request.method,
    headers: copyFields(request.headers, exchange.nativeFields),
    body: request.method === 'GET' || request.method === 'HEAD' ? null : request.body,
    signal: request.signal,
  };
  for (const pass of passes) pass(exchange, outgoing);
  // The server this attempt goes to, for the status page's transfers in flight.
  exchange.tally.server = exchange.upstream.href;
  return outgoing;
}

/**
 * A copy to change freely (a failover attempt builds its own again from the request's): a
 * HeaderFields (src/header-fields.ts: Node's requests come as one; Deno's and workerd's Headers
 * validate on every call), or, when the adapter asks for `native` fields, a copy of the runtime's
 * own Headers. Bun's are native: copied in one call, cheap to edit, and taken by its fetch as they
 * are, where a record of HeaderFields is converted field by field (the passes' work on one small
 * GET: ~2.3 µs through HeaderFields and a record, ~1.1 µs on a native copy; Bun 1.4.5).
 */
const copyFields = (source: Headers, native: boolean | undefined): Headers =>
  native && !(source instanceof HeaderFields) ? new Headers(source) : HeaderFields.from(source);
