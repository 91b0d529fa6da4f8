/**
 * Why a connection to an upstream failed, in words an operator acts on: "name not found",
 * "connection refused", "timed out", "TLS/scheme mismatch", "certificate not accepted", "reset".
 * Runtime-agnostic: Node (undici: `code` on the error or its `cause`), Bun (`code` on the
 * TypeError) and Deno (only a message, from hyper/rustls) word the same failures differently, so
 * codes are checked first and messages after.
 */

export interface FailureCause {
  /** The cause in a few words, e.g. `connection refused`. */
  what: string;
  /** The runtime's own code (`ECONNREFUSED`, `ERR_SSL_WRONG_VERSION_NUMBER`) when it gave one. */
  code?: string;
  /** A connect or header timeout: the app answers 504 for those, 502 for the rest. */
  timeout: boolean;
}

interface Clue {
  codes: string[];
  text: string;
}

/** Codes and messages of `error` and its `cause` chain (AggregateError members included). */
function clues(error: unknown): Clue {
  const codes: string[] = [];
  const texts: string[] = [];
  const seen = new Set<unknown>();
  const visit = (value: unknown, depth: number): void => {
    if (!value || typeof value !== 'object' || seen.has(value) || depth > 5) return;
    seen.add(value);
    const { code, message, name, cause, errors } = value as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string') codes.push(code);
    if (typeof name === 'string' && /Error$/.test(name) && name !== 'Error' && name !== 'TypeError') codes.push(name);
    if (typeof message === 'string') texts.push(message);
    visit(cause, depth + 1);
    if (Array.isArray(errors)) for (const member of errors) visit(member, depth + 1);
  };
  visit(error, 0);
  return { codes, text: texts.join(' | ') };
}

const CERT_CODES = new RegExp(
  [
    '^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?',
    '|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID|CERT_UNTRUSTED|CERT_REVOKED|HOSTNAME_MISMATCH)$',
  ].join(''),
);

/**
 * What went wrong connecting to (or talking to) `url`, before an answer came. `url` decides the
 * wording of a TLS/scheme mismatch: https:// to a plain port, or http:// to a TLS port.
 */
export function describeFailure(error: unknown, url: string): FailureCause {
  const { codes, text } = clues(error);
  const has = (re: RegExp) => codes.find((code) => re.test(code));
  const https = url.startsWith('https:');
  let code: string | undefined;

  if (
    (code = has(/^(ENOTFOUND|EAI_NONAME|EAI_NODATA|DNSException)$/)) ||
    /dns error|failed to lookup address|name or service not known|no address associated/i.test(text)
  ) {
    return { what: 'name not found (DNS)', code, timeout: false };
  }
  if ((code = has(/^EAI_AGAIN$/)) || /temporary failure in name resolution/i.test(text)) {
    return { what: 'name lookup failed (temporary DNS failure)', code, timeout: false };
  }
  if ((code = has(/^(ECONNREFUSED|ConnectionRefused)$/)) || /connection refused/i.test(text)) {
    return { what: 'connection refused', code: code ?? 'ECONNREFUSED', timeout: false };
  }
  if ((code = has(/^(UND_ERR_CONNECT_TIMEOUT|ConnectTimeoutError|ETIMEDOUT)$/)) || /connect(ion)? time(d)? ?out/i.test(text)) {
    return { what: 'timed out connecting', code, timeout: true };
  }
  if ((code = has(/^(UND_ERR_HEADERS_TIMEOUT|HeadersTimeoutError)$/))) {
    return { what: 'timed out waiting for the answer', code, timeout: true };
  }
  if ((code = has(/^(EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENETDOWN)$/)) || /no route to host|network is unreachable/i.test(text)) {
    return { what: code === 'ENETUNREACH' || code === 'ENETDOWN' ? 'network unreachable' : 'no route to host', code, timeout: false };
  }
  if ((code = has(CERT_CODES)) || /invalid peer certificate|certificate verify failed|self[- ]signed certificate|unknown ?issuer/i.test(text)) {
    return { what: 'TLS certificate not accepted (trust its CA, e.g. NODE_EXTRA_CA_CERTS=ca.pem on Node)', code, timeout: false };
  }
  // https:// to a port that speaks plain HTTP: OpenSSL reads "HTTP/1.1 400" as a TLS record.
  if (
    (code = has(/^(ERR_SSL_WRONG_VERSION_NUMBER|ERR_SSL_PACKET_LENGTH_TOO_LONG|ERR_SSL_HTTP_REQUEST|EPROTO|ERR_SSL_.*)$/)) ||
    /wrong version number|InvalidContentType|TLS handshake failed|corrupt message/i.test(text)
  ) {
    return {
      what: https ? 'TLS/scheme mismatch: the TLS handshake failed; does this port speak plain HTTP? (then write http://)' : 'TLS error',
      code,
      timeout: false,
    };
  }
  // http:// to a TLS port: the server closes, or answers with a TLS alert that is no HTTP.
  if (!https && ((code = has(/^(HPE_INVALID_CONSTANT|HPE_INVALID_VERSION|HPE_.*)$/)) || /invalid HTTP version|Expected HTTP\//i.test(text))) {
    return { what: 'TLS/scheme mismatch: the answer is not HTTP; does this port speak TLS? (then write https://)', code, timeout: false };
  }
  if ((code = has(/^(ECONNRESET|EPIPE|ConnectionReset)$/)) || /reset by peer|connection reset|ECONNRESET/i.test(text)) {
    return { what: 'connection reset', code: code ?? 'ECONNRESET', timeout: false };
  }
  // workerd's fetch says only this, whether the connection was refused, reset or closed.
  if (/network connection lost/i.test(text)) {
    return { what: 'connection failed or was lost (workerd does not say whether it was refused, reset or closed)', timeout: false };
  }
  if ((code = has(/^UND_ERR_SOCKET$/)) || /other side closed|connection closed before|socket connection was closed|network connection lost/i.test(text)) {
    return { what: `connection closed before an answer${https ? '' : ' (if this port speaks TLS, write https://)'}`, code, timeout: false };
  }
  if (/bad port|ports? .*are blocked/i.test(text)) {
    return { what: 'the runtime\'s fetch refuses this port (a "bad port" of the Fetch standard: use another)', timeout: false };
  }
  const message = text.split(' | ').find((part) => part && part !== 'fetch failed') ?? (text || String(error));
  return { what: message.split('\n')[0]!.slice(0, 200), code: codes[0], timeout: false };
}

/** `host: what (CODE)`, the wording of the 502/504 body, the access log's `error` and health events. */
export function failureText(error: unknown, url: string): { message: string; timeout: boolean } {
  const cause = describeFailure(error, url);
  let host = url;
  try {
    host = new URL(url).host;
  } catch {
    // keep the text as given
  }
  return { message: `${host}: ${cause.what}${cause.code ? ` (${cause.code})` : ''}`, timeout: cause.timeout };
}
