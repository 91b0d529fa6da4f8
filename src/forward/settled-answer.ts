import type { UpstreamResponse } from '../exchange.ts';

/**
 * A small answer that the client read whole without consuming it (Bun: the bytes of a clone,
 * adapter/bun/client.ts settledBody), beside the runtime's own Response it came as. When the
 * passes left it as it came (the same bytes, status and fields object, edited in place), that
 * Response can go out as it is: on Bun a new Response costs a copy of every field (~1 µs a
 * small request). A symbol-keyed property, so UpstreamResponse stays the clients' shape.
 */
const SETTLED = Symbol('registry-router.settledAnswer');

type WithSettled = UpstreamResponse & { [SETTLED]?: { answer: Response; bytes: Uint8Array | null } };

/**
 * Records that `response` carries `bytes`, read from `answer` whose fields are `response.headers`
 * (edited in place); `null`: no body, and `answer.body` is null too (a HEAD's answer on Bun).
 */
export function settledFrom(response: UpstreamResponse, answer: Response, bytes: Uint8Array | null): void {
  (response as WithSettled)[SETTLED] = { answer, bytes };
}

/**
 * The runtime's Response to send for `response` as it stands, when it is still what settledFrom
 * recorded: same bytes, same fields object, same status and reason phrase `statusText`; else `undefined`.
 */
export function untouchedAnswer(response: UpstreamResponse, statusText: string): Response | undefined {
  const settled = (response as WithSettled)[SETTLED];
  if (!settled) return undefined;
  const { answer, bytes } = settled;
  if (response.body !== bytes || response.headers !== answer.headers || response.status !== answer.status || answer.statusText !== statusText) return undefined;
  return answer;
}
