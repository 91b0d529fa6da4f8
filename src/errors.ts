import { withReasonPhrase } from './forward/reason-phrase.ts';

/**
 * How router-made errors are written (each format's module names its own, src/formats/): registry JSON
 * (docker prints `errors[0].message`), npm's `{"error"}`, a small JSON body (`plain`), or one line of
 * text (`text`: raw, whose clients are curl and scripts, which print a body as it is), or that line also as the
 * status line's reason phrase (`phrase`: nuget prints only the phrase of a refused push).
 */
export type ErrorFormat = 'registry' | 'npm' | 'plain' | 'text' | 'phrase';

/** Codes from the distribution spec's error list, plus the statuses the router itself answers with. */
export type RouterErrorCode = 'UNAVAILABLE' | 'SIZE_INVALID' | 'DENIED' | 'UNSUPPORTED' | 'NAME_UNKNOWN' | 'NAME_INVALID' | 'UNAUTHORIZED';

/**
 * An error the router makes itself, written the way the client reads errors: registry JSON for
 * docker sites (clients print `message`), npm's JSON, plain text for raw, a small JSON body otherwise.
 */
export function errorResponse(format: ErrorFormat, status: number, code: RouterErrorCode, message: string): Response {
  // The length is declared, so the access log counts these bodies too (`bytesOut`, see ownBodyBytes).
  if (format === 'registry') {
    const text = JSON.stringify({ errors: [{ code, message, detail: null }] });
    return new Response(text, {
      status,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(byteLength(text)),
        'docker-distribution-api-version': 'registry/2.0',
      },
    });
  }
  if (format === 'text' || format === 'phrase') {
    const text = `${message}\n`;
    const headers = { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(byteLength(text)) };
    if (format === 'text') return new Response(text, { status, headers });
    // A reason phrase is visible ASCII and spaces (RFC 9112 allows obs-text too; clients decode it differently).
    const phrase = message
      .replace(/[^\x21-\x7e]+/g, ' ')
      .trim()
      .slice(0, 400);
    return withReasonPhrase(new Response(text, { status, statusText: phrase, headers }), phrase);
  }
  // npm prints the `error` string of a JSON error body (npm-registry-fetch), nothing else.
  const text = JSON.stringify(format === 'npm' ? { error: message, code } : { error: code.toLowerCase(), message });
  return new Response(text, {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': String(byteLength(text)) },
  });
}

const encoder = new TextEncoder();
const byteLength = (text: string): number => encoder.encode(text).byteLength;

/** The bytes a body the router wrote itself puts on the wire (it declares its length): none for HEAD. */
export const ownBodyBytes = (method: string, response: Response): number =>
  method === 'HEAD' || !response.body ? 0 : Number(response.headers.get('content-length') ?? 0) || 0;

/** Docker clients only understand registry errors, so `/v2/` paths get them even without a site. */
export const formatForPath = (path: string): ErrorFormat => (path === '/v2' || path.startsWith('/v2/') ? 'registry' : 'plain');

/**
 * We answer before reading the whole request body: say the connection closes, so a keep-alive
 * client does not send its next request on a socket that still carries the rest of this body.
 */
export function answerEarly(request: Request, response: Response): Response {
  if (request.body && !request.bodyUsed) void request.body.cancel().catch(() => {});
  if (request.body) response.headers.set('connection', 'close');
  return response;
}
