/**
 * An origin the router forwards to, possibly with a path prefix (Nexus path-based access:
 * `http://nexus:8081/repository/docker-group/`).
 */
export class Upstream {
  readonly origin: string;
  /** Without trailing slash; '' when the upstream is an origin root. */
  readonly prefix: string;
  readonly host: string;

  constructor(readonly href: string) {
    const url = new URL(href);
    this.origin = url.origin;
    this.host = url.host;
    this.prefix = url.pathname.replace(/\/+$/, '');
  }

  /** `pathAndQuery` is the raw request target (`/v2/x/blobs/uploads/?mount=…`), kept byte for byte. */
  target(pathAndQuery: string): string {
    return this.origin + this.prefix + pathAndQuery;
  }
}
