/**
 * Requests refused before any site or rule sees them: what the runtime's HTTP parser let through
 * although RFC 9112 says a server must (or a front proxy should) not act on it. Runtime-agnostic:
 * it reads the Fetch `Request` every adapter hands over. Where parsers are strict (Node's llhttp,
 * Deno's hyper) most of this never fires; Bun.serve and workerd let more through (see
 * test/hardening/requests.test.ts for what each runtime does itself).
 *
 * - `CONNECT` (405): the router is a gateway to its sites, never a tunnel (RFC 9110 §9.3.6).
 * - no Host, or Host holding a list (400): two Host fields, which runtimes join with ", " (Node:
 *   @hono/node-server joins them from `rawHeaders` while it builds the URL from the first; Bun
 *   joins them; Deno's hyper refuses them itself; workerd fails them with 500 before the worker)
 *   (RFC 9112 §3.2: "a server MUST respond with a 400 … to any HTTP/1.1 request message that lacks
 *   a Host header field and to any request message that contains more than one Host header field");
 *   a Host that is not `host[:port]` (400, RFC 9110 §7.2).
 * - a request target over 8 KiB (414), a header section over 64 KiB (431).
 * - a control character (other than HTAB) in a header value (400, RFC 9110 §5.5).
 * - Content-Length that is not one decimal number (400: two different ones are joined "1, 2"),
 *   Content-Length together with Transfer-Encoding (400, RFC 9112 §6.1: a smuggling vector), and
 *   any Transfer-Encoding other than exactly `chunked` (501: the only coding the router forwards).
 */
import { RELAY_FIELDS } from '../passes/hop-by-hop.ts';
import { answerEarly, errorResponse, formatForPath } from '../errors.ts';

/** Why a request is refused, and with which status. */
export interface Refusal {
  /** 4xx/5xx status to answer with. */
  status: number;
  message: string;
}

/** The longest request target (path and query) accepted, as nginx's large_client_header_buffers (8k). */
export const MAX_TARGET_BYTES = 8 * 1024;
/** The largest header section accepted: names, values and ": " / CRLF per field. */
export const MAX_HEADER_BYTES = 64 * 1024;

// Field values: VCHAR, obs-text, SP and HTAB only. NUL, CR, LF, other C0 controls and DEL are refused.
const CONTROL = /[\0-\x08\x0a-\x1f\x7f]/;
const DECIMAL = /^\d+$/;
/**
 * `host[:port]` as clients send it: a DNS name or IPv4 address, or an IPv6 literal in brackets.
 * Anything else (`/`, `?`, `#`, `@`, spaces) would change the URL a runtime builds from it: Deno.serve
 * turns `Host: registry.test/evil` into the path `/evil/v2/…` and `Host: a?` into the query.
 */
const HOST_SYNTAX = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::(?:6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|\d{0,4}))?$/;

/** What the guard's walk over a request's fields noted, for the outgoing passes. */
export interface FieldsSeen {
  /** Whether the request carries a field of RELAY_FIELDS (passes/hop-by-hop.ts); false until one is seen. */
  relay: boolean;
}

/**
 * `undefined` when the request may go on; else why not. Runs on every request: keep it cheap.
 * `seen`, when given, notes what the walk over the fields found (set once they were all walked).
 */
export function guardRequest(request: Request, url: URL, seen?: FieldsSeen): Refusal | undefined {
  if (request.method === 'CONNECT') return { status: 405, message: 'CONNECT is not supported: this router is not a forward proxy' };
  const host = request.headers.get('host');
  if (host === null || host === '') return { status: 400, message: 'the request has no Host header' };
  if (host.includes(',')) return { status: 400, message: 'the request has more than one Host header' };
  if (!HOST_SYNTAX.test(host)) return { status: 400, message: 'the Host header is not a host name with an optional port' };
  if (url.pathname.length + url.search.length > MAX_TARGET_BYTES) {
    return { status: 414, message: `the request target is longer than ${MAX_TARGET_BYTES} bytes` };
  }
  let bytes = 0;
  let controlIn: string | undefined;
  // forEach, not for…of: Deno's Headers iterator is the generic (slow) WebIDL one.
  let relay = false;
  request.headers.forEach((value, name) => {
    bytes += name.length + value.length + 4;
    if (controlIn === undefined && CONTROL.test(value)) controlIn = name;
    if (!relay && RELAY_FIELDS.has(name)) relay = true;
  });
  if (seen) seen.relay = relay;
  if (controlIn !== undefined) return { status: 400, message: `header ${controlIn} holds a control character` };
  if (bytes > MAX_HEADER_BYTES) return { status: 431, message: `the request headers are larger than ${MAX_HEADER_BYTES / 1024} KiB` };
  const length = request.headers.get('content-length');
  const coding = request.headers.get('transfer-encoding');
  if (length !== null && !DECIMAL.test(length)) return { status: 400, message: 'Content-Length must be one decimal number' };
  if (coding !== null) {
    if (length !== null) return { status: 400, message: 'the request has both Content-Length and Transfer-Encoding' };
    if (coding.trim().toLowerCase() !== 'chunked')
      return { status: 501, message: `Transfer-Encoding ${JSON.stringify(coding)} is not supported (only chunked)` };
  }
  return undefined;
}

/**
 * For runtimes that hand over a request whose URL does not parse (Bun.serve and Deno.serve build
 * it from a Host list such as `a, b`, and the app's `new URL` would throw: 500): the 400 the guard
 * gives. The app asks only when the URL did not parse (src/app.ts), which spares every well-formed
 * request the check. `undefined` when the app can take it.
 */
export function refuseEarly(request: Request): Response | undefined {
  const host = request.headers.get('host');
  // A well-formed Host makes a well-formed URL; a missing one is the guard's to answer.
  if ((host !== null && HOST_SYNTAX.test(host)) || (!host?.includes(',') && URL.canParse(request.url))) return undefined;
  const path = request.url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '').split('?')[0]!;
  const response = errorResponse(formatForPath(path), 400, 'UNSUPPORTED', 'the request has more than one Host header, or a Host that is not a host name');
  return answerEarly(request, response);
}
