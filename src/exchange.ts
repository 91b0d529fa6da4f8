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
  /** The path sent upstream when the rule rewrites it (`stripPrefix`: NuGet's `/api/v2/package/` → `/`); else `url.pathname`. */
  readonly upstreamPath?: string;
  /** Set when the role came from a push session rather than the rule: the access log says `session`. */
  readonly steered?: 'session';
  /**
   * false: the request carries no field the outgoing passes drop or read (passes/hop-by-hop.ts
   * RELAY_FIELDS; the request guard walked every field), so they only set theirs; else not known.
   */
  readonly relayFields?: boolean;
  /**
   * The outgoing passes edit a copy of the request's fields as the runtime's own `Headers`, not a
   * HeaderFields: the adapter's choice (AppOptions.nativeRequestFields; Bun), see passes/outgoing.ts.
   */
  readonly nativeFields?: boolean;
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
/**
 * A step of the body stage (passes/body.ts), after the incoming passes: it may read or replace the
 * answer's body. A throw stops the stage and the router answers an error instead (forward/forward.ts).
 */
export type BodyPass = (exchange: Exchange, response: UpstreamResponse) => void | Promise<void>;

/** What goes to the upstream; outgoing passes (passes/outgoing.ts) build it step by step. */
export interface OutgoingRequest {
  url: string;
  method: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  signal: AbortSignal;
}

/** What came back; incoming passes (passes/incoming.ts) adjust it before it becomes the client's response. */
export interface UpstreamResponse {
  status: number;
  /** The reason phrase of the status line (`File already exists.`): clients such as twine print it. */
  statusText?: string;
  headers: Headers;
  /**
   * The body as a stream, or as bytes when the client already read it whole (answers that declare
   * at most SMALL_BODY bytes: manifests, tag lists, tokens, errors), which spares building and
   * pumping a web stream per small answer. `null`: no body.
   */
  body: ReadableStream<Uint8Array> | Uint8Array | null;
  /**
   * For a client that times the body's transfer itself (forward/idle.ts): whoever passes
   * the body on calls `chunk()` for each chunk and `end()` once it is done with it, so that no
   * stream has to be wrapped around the body only to watch it. A missed `end()` costs nothing
   * worse than a timer that fires on a finished request.
   */
  watch?: {
    chunk(): void;
    end(): void;
    /** The body goes on where no JavaScript sees its chunks (a runtime's native pipe): cut it `ms` (plus timeouts.idle) from now unless it ends. */
    deadline?(ms: number): void;
  };
}

/** Answers that declare at most this many bytes are read whole before they are passed on (one write). */
export const SMALL_BODY = 64 * 1024;

/** `Content-Length` when it is one decimal number no larger than SMALL_BODY; else `undefined`. */
export function smallBodyLength(headers: Headers): number | undefined {
  const declared = headers.get('content-length');
  if (declared === null || !/^\d+$/.test(declared)) return undefined;
  const length = Number(declared);
  return length <= SMALL_BODY ? length : undefined;
}

/** Lets go of a body nobody will read: a stream is cancelled (the client frees its connection or closes it). */
export function discardBody(body: ReadableStream<Uint8Array> | Uint8Array | null): void {
  if (body && !(body instanceof Uint8Array)) void body.cancel().catch(() => {});
}
