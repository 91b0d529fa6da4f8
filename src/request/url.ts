/**
 * The URL of a request as the app reads it (src/app.ts): a URL whose host, hostname, port,
 * protocol and pathname are read from the runtime once and kept. On Bun 1.4.5 every read of one
 * of a URL's getters makes a new string (~60–80 ns), and a small forwarded request reads them
 * about a dozen times (the guard, the decision, the outgoing passes, the access log). It stays a
 * URL in every way (instanceof, href, toString, searchParams); setting any of these parts, or
 * href, forgets what was kept. `search` is not kept: `searchParams` edits change it unseen.
 */
export class RequestUrl extends URL {
  #host: string | undefined;
  #hostname: string | undefined;
  #port: string | undefined;
  #protocol: string | undefined;
  #pathname: string | undefined;

  /** After any setter: a part may change another (host sets the port, href all of them). */
  #forget(): void {
    this.#host = this.#hostname = this.#port = this.#protocol = this.#pathname = undefined;
  }

  override get host(): string {
    return (this.#host ??= super.host);
  }
  override set host(value: string) {
    super.host = value;
    this.#forget();
  }
  override get hostname(): string {
    return (this.#hostname ??= super.hostname);
  }
  override set hostname(value: string) {
    super.hostname = value;
    this.#forget();
  }
  override get port(): string {
    return (this.#port ??= super.port);
  }
  override set port(value: string) {
    super.port = value;
    this.#forget();
  }
  override get protocol(): string {
    return (this.#protocol ??= super.protocol);
  }
  override set protocol(value: string) {
    super.protocol = value;
    this.#forget();
  }
  override get pathname(): string {
    return (this.#pathname ??= super.pathname);
  }
  override set pathname(value: string) {
    super.pathname = value;
    this.#forget();
  }
  override get href(): string {
    return super.href;
  }
  override set href(value: string) {
    super.href = value;
    this.#forget();
  }
}
