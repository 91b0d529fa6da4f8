/**
 * The upstream's reason phrase beside a Response, for adapters that write the status line
 * themselves (Node). Reading `statusText` of @hono/node-server's lightweight Response builds the
 * full web Response behind it (and a web stream for its body), which costs more than the rest of a
 * small request's own work; a symbol-keyed property lets the adapter learn the phrase without that.
 */
const REASON_PHRASE = Symbol('registry-router.reasonPhrase');

type WithPhrase = Response & { [REASON_PHRASE]?: string };

/** Records `phrase` (when not empty) as the reason phrase `response` should go out with; returns `response`. */
export function withReasonPhrase(response: Response, phrase: string): Response {
  if (phrase) (response as WithPhrase)[REASON_PHRASE] = phrase;
  return response;
}

/** The reason phrase recorded by withReasonPhrase, or `undefined` (the runtime's standard one then). */
export function reasonPhraseOf(response: Response): string | undefined {
  return (response as WithPhrase)[REASON_PHRASE];
}
