/** The little of Deno's API the Deno adapter uses (tsc runs with Node's types; `deno check` knows the real ones). */

export interface NetAddr {
  hostname: string;
  port: number;
}

export interface DenoServer {
  readonly addr: NetAddr;
  shutdown(): Promise<void>;
}

export type DenoSignal = 'SIGTERM' | 'SIGINT' | 'SIGHUP';

/** The global `Deno`. */
export interface DenoApi {
  args: string[];
  cwd(): string;
  env: { get(name: string): string | undefined };
  readTextFileSync(path: string): string;
  serve(
    options: { hostname: string; port: number; reusePort?: boolean; cert?: string; key?: string; onListen(addr: NetAddr): void },
    handler: (request: Request, info: { remoteAddr: NetAddr }) => Response | Promise<Response>,
  ): DenoServer;
  addSignalListener(signal: DenoSignal, handler: () => void): void;
  exit(code: number): never;
}
