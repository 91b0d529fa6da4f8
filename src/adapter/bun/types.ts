/** The little of Bun's API the Bun adapter uses (the project does not pull in bun-types for one folder). */

/** A certificate for Bun.serve; `serverName` picks it by SNI. */
export interface BunTls {
  cert: string;
  key: string;
  serverName?: string;
}

export interface BunServer {
  readonly hostname: string;
  readonly port: number;
  requestIP(request: Request): { address: string; port: number } | null;
  timeout(request: Request, seconds: number): void;
  stop(closeActiveConnections?: boolean): Promise<void>;
}

/** The global `Bun`. */
export interface BunApi {
  serve(options: {
    hostname: string;
    port: number;
    reusePort?: boolean;
    idleTimeout: number;
    maxRequestBodySize: number;
    development?: boolean;
    tls?: BunTls[];
    fetch(request: Request, server: BunServer): Response | Promise<Response>;
  }): BunServer;
}
