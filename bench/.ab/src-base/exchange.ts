import type { Role } from './rules/rule.ts';
import type { Site } from './site/site.ts';
import type { Upstream } from './upstream/upstream.ts';

/** One client request on its way through the router, with what was decided about it. */
export interface Exchange {
  /** The request as the client sent it. */
  readonly request: Request;
  /** The URL as the client addressed it (scheme, Host with port, path, query). */
  readonly url: URL;
  readonly clientAddress: string;
  readonly site: Site;
  readonly role: Role;
  readonly upstream: Upstream;
  readonly startedAt: number;
  /** Filled in while bodies stream; read by the access log and by error mapping. */
  readonly tally: { bytesIn: number; bytesOut: number; bodyTooLarge: boolean };
}

/** What goes to the upstream; outgoing passes build it step by step. */
export interface OutgoingRequest {
  url: string;
  method: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  signal: AbortSignal;
}

/** What came back; incoming passes adjust it before it becomes the client's response. */
export interface UpstreamResponse {
  status: number;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
}

export type OutgoingPass = (exchange: Exchange, outgoing: OutgoingRequest) => void;
export type IncomingPass = (exchange: Exchange, response: UpstreamResponse) => void;
