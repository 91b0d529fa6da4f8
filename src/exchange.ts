import type { OutgoingRequest, UpstreamResponse } from './forward/client.ts';
import type { Role } from './rules/rule.ts';
import type { PushSession } from './site/push-sessions.ts';
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
  /** What the rule's `**` matched: the repository a push session and pinning are about. */
  readonly subject?: string;
  /** Goes to the server of its role's pool that the subject hashes to (or its session's), and nowhere else. */
  readonly pinned?: boolean;
  /** The client's push session for the subject, when the rule opened or followed one. */
  readonly session?: PushSession;
  /** The client's `Authorization` as an upload capability restored it (edge uploads, origin side): replaces the header. */
  readonly restoredAuthorization?: string | null;
  /** URLs in the JSON answer that point into an upstream are mapped to the public name (passes/body-urls.ts). */
  readonly mapUrls?: boolean;
  /** Set when the role came from a push session rather than the rule: the access log says `session`. */
  readonly steered?: 'session';
  /**
   * Filled in while the exchange goes on; read by the access log, error mapping and the status
   * page. One object shared by the exchange and each attempt made of it (forward/send.ts).
   */
  readonly tally: {
    bytesIn: number;
    bytesOut: number;
    bodyTooLarge: boolean;
    note?: string;
    /** The server the request was last sent to (an attempt's upstream; passes/outgoing.ts). */
    server?: string;
    /** The answer's declared body length, once its headers are in (passes/incoming.ts); unset when none is sent. */
    answerLength?: number;
  };
}

export type OutgoingPass = (exchange: Exchange, outgoing: OutgoingRequest) => void;
export type IncomingPass = (exchange: Exchange, response: UpstreamResponse) => void;

export type { OutgoingRequest, UpstreamResponse };
