/**
 * The header fields of a message while the router works on it: what the outgoing passes build for
 * the upstream and what a client read from the upstream's answer, before the incoming passes.
 *
 * The Fetch API's `Headers` validates every name and value on each call, lowercases, and sorts
 * its fields again on each iteration: on Node, the chain one small GET puts its answer's fields
 * through (copy in, drop hop-by-hop, a few look-ups, copy out) took ~8 µs with `Headers` and
 * ~1.3 µs with a Map (a loop of 200,000 here; Bun 5 vs 1 µs, Deno 6–7 vs 0.7 µs). The fields a
 * client reads off the wire were validated by the runtime's parser already, so this list checks
 * only what the router sets (names as tokens, values free of CR, LF and NUL, RFC 9110 §5.5).
 *
 * It implements `Headers`, so the passes take either; `headersInit` turns it into what a
 * `Response` is built from at the end. Order: fields in the order they were first added, then
 * each `Set-Cookie` (Headers sorts by name; field order carries no meaning, RFC 9110 §5.3).
 */
export class HeaderFields implements Headers {
  readonly #fields = new Map<string, string>();
  // Set-Cookie is the one field that must not be joined into one line (RFC 9110 §5.3, RFC 6265 §3).
  // Shared while empty (most messages carry none): replaced, never pushed to, until a first one comes.
  #cookies: readonly string[] = NO_COOKIES;

  /** A copy of `source` (a `Headers`, or another list). */
  static from(source: Headers): HeaderFields {
    const fields = new HeaderFields();
    if (source instanceof HeaderFields) {
      const into = fields.#fields;
      // Map's forEach makes no [name, value] entry per field, as for…of does (a small GET walks its fields ~6 times).
      source.#fields.forEach((value, name) => into.set(name, value));
      if (source.#cookies.length) fields.#cookies = [...source.#cookies];
      return fields;
    }
    // One walk: `Headers` yields each Set-Cookie on its own (Fetch standard, "sort and combine"), so no
    // getSetCookie() after it (another walk of the list through WebIDL: ~1 µs an answer on Deno 2.9.6).
    const into = fields.#fields;
    let cookies: string[] | undefined;
    source.forEach((value, name) => {
      // Names come lowercased and combined, one entry each: set, no look-up of an earlier value.
      if (name === 'set-cookie') (cookies ??= []).push(value);
      else into.set(name, value);
    });
    if (cookies) fields.#cookies = cookies;
    return fields;
  }

  /**
   * Fields as a client read them (names lowercased or not; `value` an array for a repeated field),
   * e.g. undici's `IncomingHttpHeaders`: taken without validation, the parser did that.
   */
  static fromParsed(parsed: Record<string, string | string[] | undefined>): HeaderFields {
    const fields = new HeaderFields();
    for (const name in parsed) {
      const value = parsed[name];
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const item of value) fields.#add(name.toLowerCase(), item);
      else fields.#add(name.toLowerCase(), value);
    }
    return fields;
  }

  /**
   * Fields as node:http's `rawHeaders` lists them (name, value, name, value…; names as sent),
   * taken without validation (llhttp refused what HTTP forbids); HTTP/2 pseudo-fields (`:path`) left out.
   */
  static fromRaw(raw: readonly string[]): HeaderFields {
    const fields = new HeaderFields();
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!;
      if (name.charCodeAt(0) !== 58) fields.#add(name.toLowerCase(), raw[i + 1]!);
    }
    return fields;
  }

  #add(name: string, value: string): void {
    if (name === 'set-cookie') {
      this.#cookies = [...this.#cookies, value];
      return;
    }
    const prior = this.#fields.get(name);
    this.#fields.set(name, prior === undefined ? value : `${prior}, ${value}`);
  }

  append(name: string, value: string): void {
    this.#add(checkedName(name), checkedValue(value));
  }

  set(name: string, value: string): void {
    const key = checkedName(name);
    const checked = checkedValue(value);
    if (key === 'set-cookie') this.#cookies = [checked];
    else this.#fields.set(key, checked);
  }

  get(name: string): string | null {
    const key = name.toLowerCase();
    if (key === 'set-cookie') return this.#cookies.length ? this.#cookies.join(', ') : null;
    return this.#fields.get(key) ?? null;
  }

  has(name: string): boolean {
    const key = name.toLowerCase();
    return key === 'set-cookie' ? this.#cookies.length > 0 : this.#fields.has(key);
  }

  delete(name: string): void {
    const key = name.toLowerCase();
    if (key === 'set-cookie') this.#cookies = NO_COOKIES;
    else this.#fields.delete(key);
  }

  getSetCookie(): string[] {
    return [...this.#cookies];
  }

  forEach(callback: (value: string, name: string, parent: Headers) => void, thisArg?: unknown): void {
    this.#fields.forEach((value, name) => callback.call(thisArg, value, name, this));
    for (const cookie of this.#cookies) callback.call(thisArg, cookie, 'set-cookie', this);
  }

  *entries(): HeadersIterator<[string, string]> {
    yield* this.#fields;
    for (const cookie of this.#cookies) yield ['set-cookie', cookie];
  }

  *keys(): HeadersIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): HeadersIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): HeadersIterator<[string, string]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'HeaderFields';
  }

  /**
   * A plain object of the fields (lowercase names), or a `Headers` when more than one Set-Cookie
   * must stay apart: what `new Response(body, { headers })` takes on every runtime, and what
   * @hono/node-server hands to `writeHead` as it is (no copy into `Headers` and back, no default
   * Content-Type).
   */
  toInit(): Record<string, string> | Headers {
    if (this.#cookies.length > 1) {
      const headers = new Headers();
      this.forEach((value, name) => headers.append(name, value));
      return headers;
    }
    const record: Record<string, string> = {};
    this.#fields.forEach((value, name) => (record[name] = value));
    if (this.#cookies.length) record['set-cookie'] = this.#cookies[0]!;
    return record;
  }
}

const NO_COOKIES: readonly string[] = Object.freeze([]);

const PLAIN_FIELDS = Symbol('registry-router.plainFields');

/**
 * `new Response(body, { status, statusText, headers })` with HeaderFields given in their own form
 * (HeaderFields.toInit). A response built from a plain object is marked, so that the Node adapter
 * knows, without reading `response.headers` (which would build a `Headers` from it), that
 * @hono/node-server adds no Content-Type of its own to it (see plainFields).
 */
export function responseOf(body: BodyInit | null, status: number, statusText: string, headers: Headers): Response {
  const init = headers instanceof HeaderFields ? headers.toInit() : headers;
  const response = new Response(body, { status, statusText, headers: init });
  if (!(init instanceof Headers)) (response as Response & { [PLAIN_FIELDS]?: true })[PLAIN_FIELDS] = true;
  // `body` answered by the object itself: on @hono/node-server reading it would turn the lightweight
  // Response into a full one (a `Headers` of the fields, the server's slow path to write it), and a
  // HEAD answer's body is read once more on its way out (app.ts, RouterApp.answer).
  if (body === null) Object.defineProperty(response, 'body', { value: null });
  return response;
}

/** Whether responseOf built `response` from a plain object of fields. */
export const plainFields = (response: Response): boolean => (response as Response & { [PLAIN_FIELDS]?: true })[PLAIN_FIELDS] === true;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FORBIDDEN_IN_VALUE = /[\r\n\0]/;
const EDGE_WHITESPACE = /^[\t ]+|[\t ]+$/g;

function checkedName(name: string): string {
  if (!TOKEN.test(name)) throw new TypeError(`invalid header name: ${JSON.stringify(name)}`);
  return name.toLowerCase();
}

/** As Headers does: leading and trailing whitespace go (RFC 9110 §5.5), CR/LF/NUL are refused. */
function checkedValue(value: string): string {
  const text = String(value);
  if (FORBIDDEN_IN_VALUE.test(text)) throw new TypeError(`invalid header value: ${JSON.stringify(text)}`);
  return text.charCodeAt(0) <= 32 || text.charCodeAt(text.length - 1) <= 32 ? text.replace(EDGE_WHITESPACE, '') : text;
}
