/**
 * Why a request path must not be forwarded under an upstream's prefix, or `undefined` when it may.
 *
 * The router forwards the path byte for byte (`@scope%2fname`, digests and queries stay as sent),
 * so the question is what some server behind it might make of those bytes. Origins and ingresses
 * differ: Tomcat and Jetty drop `;` path parameters before resolving dot segments (`/..;/`);
 * Tomcat and IIS may take `\` (`%5c`) for `/`; Jetty, Traefik and nginx set-ups that decode `%2F`
 * before resolving dot segments turn `..%2f..%2f` into `../../`; a server that decodes twice turns
 * `%252e` into `.`. RFC 3986 §3.3/§5.2.4 only resolves literal `.`/`..` segments, which the
 * runtime's URL parser (WHATWG URL, which also reads `%2e` as `.`) has already resolved inside the
 * path before the router sees it: what is left of the path cannot climb above the prefix.
 *
 * So the rule: decode the path up to three times, take `\` as `/`, cut each segment at its first
 * `;`; if any segment is then `.` or `..`, or the decoded path holds NUL or another control
 * character, refuse. No registry, npm, Maven or PyPI name is `.` or `..`, so nothing real is lost.
 *
 * @param path the request path as the URL parser left it (`url.pathname`), percent-encoding intact
 * @returns a sentence for the 400 answer, naming what was found
 */
export function unsafePath(path: string): string | undefined {
  // Fast path: without '%', '\', ';' or a dot segment there is nothing to hide behind.
  if (!/[%\\;]|(^|\/)\.\.?(\/|$)/.test(path)) return undefined;
  let decoded = path;
  for (let round = 0; round < 3 && decoded.includes('%'); round++) {
    const next = decodeOnce(decoded);
    if (next === decoded) break;
    decoded = next;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(decoded)) return 'the request path holds an encoded control character';
  for (const segment of decoded.split(/[/\\]/)) {
    const bare = segment.split(';', 1)[0];
    if (bare === '.' || bare === '..') return `the request path holds a "${bare}" segment (literal, or behind encoding, "\\" or ";"): ${truncate(path)}`;
  }
  return undefined;
}

/** One round of percent-decoding; malformed escapes (`%zz`, a lone `%`) stay as they are. */
function decodeOnce(text: string): string {
  return text.replace(/%([0-9a-f]{2})/gi, (_escape, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

function truncate(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
