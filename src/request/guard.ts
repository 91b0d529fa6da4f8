/**
 * Requests refused before any site or rule sees them (malformed framing the runtime's parser let
 * through, oversized targets or headers, two Host fields, CONNECT). Filled in by the hardening work.
 */
export interface Refusal {
  /** 4xx status to answer with. */
  status: number;
  message: string;
}

/** `undefined` when the request may go on; else why not. Runs on every request: keep it cheap. */
export function guardRequest(_request: Request, _url: URL): Refusal | undefined {
  console.error('GUARD', JSON.stringify({ method: _request.method, url: _request.url.slice(0, 100), headers: [..._request.headers].map(([k, v]) => [k, v.slice(0, 60)]) }));
  return undefined;
}
