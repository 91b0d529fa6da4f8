import type { Exchange, UpstreamResponse } from '../exchange.ts';
import type { BodyUrlKind } from '../formats/index.ts';
import { fnv1a } from '../site/push-sessions.ts';
import { readUpTo } from '../stream/read-up-to.ts';
import { toPublicUrl } from './public-url.ts';

/** Sites whose format does not say (a site's own `mapUrls` rules): JSON and HTML. */
const ALL_KINDS: readonly BodyUrlKind[] = ['json', 'html'];

/** JSON answers larger than this pass unmapped, and the access log says so (bytes). */
export const MAP_URLS_CAP = 32 * 1024 * 1024;

/**
 * The URL-mapping body pass of npm packuments and PyPI index pages: every JSON string (or, in an
 * HTML page, every `href`) that is an absolute URL pointing
 * into an upstream (`dist.tarball` as a path-based Nexus builds it:
 * `https://npm.example.com/repository/npm-group/<pkg>/-/<pkg>-1.0.0.tgz`) becomes the public URL,
 * the way `Location` is mapped. In an XML answer (NuGet's V2 Atom feeds) every attribute value and element
 * text that is an absolute URL is mapped the same way (`xml:base`, `<id>`, `<content src>`, `<link href>`).
 * Only the scheme, host and upstream prefix of a URL change: its query, fragment and any `{…}` template
 * (NuGet's `{id-lower}`) stay as they were, and so does everything else (no re-serialisation). The format's
 * `amendBody` may then change the text further (NuGet: a push resource added to a service index).
 * pnpm and yarn do not cope with tarball URLs that name another path (pnpm #5549, verdaccio #234).
 *
 * Runs on 200 answers to GET of exchanges whose rule says `mapUrls`, with a JSON or HTML content type
 * that the site's format names in its `bodyUrls` (src/formats/).
 * The body is read whole, up to `cap` bytes: a larger one passes unmapped (with `tally.note` set
 * for the access log). A gzip/deflate body (the upstream ignored `Accept-Encoding: identity`) is
 * decoded and sent identity. `Content-Length` is set to the mapped length; a changed body gets the
 * upstream's ETag with a suffix naming the public origin (`etagSuffix`), which the outgoing pass
 * `mappedConditionals` strips again from `If-None-Match`, so 304s keep working.
 */
export async function mapBodyUrls(exchange: Exchange, response: UpstreamResponse, cap = MAP_URLS_CAP): Promise<void> {
  if (exchange.request.method === 'HEAD') {
    // The length of the mapped GET answer is not known without reading it.
    response.headers.delete('content-length');
    return;
  }
  if (exchange.request.method !== 'GET' || response.status !== 200 || !response.body) return;
  const type = response.headers.get('content-type') ?? '';
  const kind: BodyUrlKind | undefined = /html/i.test(type) ? 'html' : /json/i.test(type) ? 'json' : /xml/i.test(type) ? 'xml' : undefined;
  // Which answers carry URLs is the format's to say (its module's `bodyUrls`): npm's are JSON, PyPI's HTML or JSON, NuGet's XML or JSON.
  const kinds = exchange.site.format?.bodyUrls ?? ALL_KINDS;
  if (!kind || !kinds.includes(kind)) return;
  const encoding = (response.headers.get('content-encoding') ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') {
    exchange.tally.note = `JSON answer in ${encoding} encoding: passed unmapped`;
    return;
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (encoding === 'identity' && declared > cap) {
    exchange.tally.note = `JSON answer of ${declared} bytes is over the ${cap}-byte mapping cap: passed unmapped`;
    return;
  }
  const body = response.body instanceof Uint8Array ? new Blob([response.body as Uint8Array<ArrayBuffer>]).stream() : response.body;
  const source =
    encoding === 'identity' ? body : body.pipeThrough(new DecompressionStream(encoding) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
  const read = await readUpTo(source, cap);
  if (!read.whole) {
    exchange.tally.note = `JSON answer over the ${cap}-byte mapping cap: passed unmapped`;
    response.body = read.rest;
    if (encoding !== 'identity') dropEncoding(response);
    return;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(read.bytes);
  } catch {
    exchange.tally.note = 'JSON answer is not UTF-8: passed unmapped';
    setBody(response, read.bytes, encoding !== 'identity');
    return;
  }
  let changed = false;
  const map = (url: string): string | undefined => {
    // The part up to the query, fragment or a URI template's `{` is mapped; the rest is kept as it is (a URL parser
    // would percent-encode `{id-lower}` and a query's quotes).
    const cut = url.search(/[?#{]/);
    const head = cut < 0 ? url : url.slice(0, cut);
    const publicHead = toPublicUrl(exchange, head);
    if (publicHead === undefined || publicHead === head) return undefined;
    changed = true;
    // A trailing slash stays as it was (clients append paths); the bare prefix (`…/nuget-group`) is the public root `https://public/`.
    return `${publicHead}${cut < 0 ? '' : url.slice(cut)}`;
  };
  let mapped =
    kind === 'xml'
      ? // Atom: absolute URLs as attribute values and as element text; `&amp;` and `&apos;` stay as written.
        text
          .replace(/(\s[\w:.-]+\s*=\s*)(["'])(https?:\/\/[^"'<>\s]*)\2/g, (whole, attr: string, quote: string, url: string) => {
            const publicUrl = map(url);
            return publicUrl === undefined ? whole : `${attr}${quote}${publicUrl}${quote}`;
          })
          .replace(/>(\s*)(https?:\/\/[^<>\s]*)(\s*)</g, (whole, before: string, url: string, after: string) => {
            const publicUrl = map(url);
            return publicUrl === undefined ? whole : `>${before}${publicUrl}${after}<`;
          })
      : kind === 'html'
        ? // PEP 503 pages: absolute links in href attributes (relative ones resolve against the public URL).
          text.replace(/(\shref\s*=\s*)(["'])(https?:\/\/[^"'<>\s]*)\2/gi, (whole, attr: string, quote: string, url: string) => {
            const publicUrl = map(url.replaceAll('&amp;', '&'));
            return publicUrl === undefined ? whole : `${attr}${quote}${publicUrl.replaceAll('&', '&amp;')}${quote}`;
          })
        : text.replace(/"(https?:\/\/[^"\\]*)"/g, (whole, url: string) => {
            const publicUrl = map(url);
            return publicUrl === undefined ? whole : JSON.stringify(publicUrl);
          });
  const amended = exchange.site.format?.amendBody?.amend({ kind, text: mapped, publicBase: `${exchange.url.protocol}//${exchange.url.host}` });
  if (amended !== undefined) {
    mapped = amended;
    changed = true;
  }
  setBody(response, changed ? new TextEncoder().encode(mapped) : read.bytes, encoding !== 'identity');
  const etag = response.headers.get('etag');
  if (changed && etag) response.headers.set('etag', etag.replace(/"$/, `${etagSuffix(exchange)}"`));
}

/** `-rr<hash of the public origin>`: the mapped body is a function of the upstream's and that origin. */
export function etagSuffix(exchange: Exchange): string {
  return `-rr${fnv1a(`${exchange.url.protocol}//${exchange.url.host}`).toString(36)}`;
}

function setBody(response: UpstreamResponse, bytes: Uint8Array, decoded: boolean): void {
  response.body = bytes;
  response.headers.set('content-length', String(bytes.byteLength));
  if (decoded) dropEncoding(response);
}

function dropEncoding(response: UpstreamResponse): void {
  response.headers.delete('content-encoding');
  response.headers.delete('content-length');
  const etag = response.headers.get('etag');
  // The decoded body is another representation: its ETag can only be weak.
  if (etag && !etag.startsWith('W/')) response.headers.set('etag', `W/${etag}`);
}
