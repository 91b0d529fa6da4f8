import { errorResponse } from '../errors.ts';
import type { Exchange, UpstreamResponse } from '../exchange.ts';
import { buildOutgoing } from '../passes/outgoing.ts';
import type { Site } from '../site/site.ts';
import type { Pool, Server } from '../upstream/pool.ts';
import { discardBody, UpstreamError, type UpstreamClient } from './client.ts';

export type Outcome =
  /** A server answered. `exchange.upstream` is that server; `release()` once its response has ended. */
  | { kind: 'response'; exchange: Exchange; response: UpstreamResponse; release: () => void }
  /** No server could answer; `error` is the last server's. */
  | { kind: 'failed'; exchange: Exchange; error: unknown }
  /** The router refuses by itself (a write with no healthy primary): send `response` as is. */
  | { kind: 'refused'; response: Response; reason: string };

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/**
 * Sends the exchange to a server of its role's pool, following the safety rules:
 *
 * - Only GET/HEAD without a body are tried again on another server, and only while nothing has
 *   reached the client: this runs before the response is returned, so a retry never follows bytes
 *   already sent. A request with a body (whose body may have started to stream) is never replayed.
 * - Writes (other methods on the write role) go to primaries only, unless the site sets
 *   `writeToBackup`: a backup synced on a timer is stale, and what is written there would be
 *   overwritten by the next sync. With backups configured but no healthy primary, a write is
 *   refused with 503 ("pushes are paused"), before any byte goes anywhere.
 * - GET/HEAD on the write role (blob checks during a push) may use backups: they change nothing.
 * - A pinned exchange (one repository's push: uploads, blob HEADs, manifest PUT) goes to the primary
 *   its repository hashes to (Pool.pinned), or to the server its push session went to first, and is
 *   never tried on another: upload state lives on one node (distribution #1981). When that server
 *   is down, the push fails at once with 503 and a message saying so; its session ends, so the
 *   client's next push starts afresh on a healthy server.
 */
export function sendWithFailover(exchange: Exchange, client: UpstreamClient): Promise<Outcome> {
  const { site, role, request } = exchange;
  // compileSite only lets rules name roles the site has.
  const pool = site.pools[role]!;
  const safe = SAFE_METHODS.has(request.method);
  // Every role but read is a write target (write, and named ones such as Maven's snapshots).
  const isWrite = role !== 'read' && !safe;
  const backups = !isWrite || site.writeToBackup;
  const pin = exchange.pinned && exchange.subject !== undefined ? pinnedServer(exchange, pool) : undefined;
  if (pin && 'refused' in pin) return Promise.resolve({ kind: 'refused', response: pin.refused, reason: pin.reason });
  const retriable = !pin && safe && !hasBody(request);
  // The servers given up on; made only when the exchange moves on to another (most never do).
  let tried: Set<Server> | undefined;
  const next = (past: Server): Server | undefined => {
    tried ??= new Set();
    tried.add(past);
    return pool.pick(backups, tried) ?? pool.lastResort(backups, tried);
  };
  let server = pin?.server ?? pool.pick(backups);
  if (!server && isWrite && !site.writeToBackup && pool.backups.length > 0) {
    return Promise.resolve({ kind: 'refused', response: pausedResponse(site), reason: 'no healthy primary for writes' });
  }
  // When every server looks down, a pinned exchange still tries only its own.
  server ??= pin ? pool.pinned(exchange.subject!, true) : pool.lastResort(backups);

  /**
   * One try on `current` (the exchange's previous try was `attempt`, its failure `lastError`): the
   * outcome, or the next try's. Chained, not awaited in a loop: a request that goes where it was
   * addressed and is answered costs one promise hop here.
   */
  const tryOn = (current: Server | undefined, attempt: Exchange, lastError: unknown): Promise<Outcome> => {
    if (!current) {
      // Made only when needed: an Error captures a stack, a measurable cost on every request.
      const error = lastError ?? new UpstreamError('unreachable', `site ${site.name} has no ${role} server`);
      return Promise.resolve({ kind: 'failed', exchange: attempt, error });
    }
    // The exchange itself when it goes where it was addressed (its role's first server): no copy.
    const sent: Exchange = current.upstream === exchange.upstream ? exchange : { ...exchange, upstream: current.upstream };
    current.active++;
    let sending: Promise<UpstreamResponse>;
    try {
      sending = client.send(buildOutgoing(sent));
    } catch (error) {
      sending = Promise.reject(error);
    }
    return sending.then(
      (response) => {
        if (site.health.failStatuses.has(response.status)) {
          current.failed('passive', `${request.method} ${exchange.url.pathname} answered ${response.status}`);
          const alternative = retriable ? next(current) : undefined;
          if (alternative) {
            discardBody(response.body);
            response.watch?.end();
            current.active--;
            pool.retries++;
            return tryOn(alternative, sent, lastError);
          }
        }
        let released = false;
        const release = () => {
          if (released) return;
          released = true;
          current.active--;
        };
        return { kind: 'response', exchange: sent, response, release };
      },
      (error: unknown) => {
        current.active--;
        // The client going away, or a body cut at the site's cap, says nothing about the server. Once
        // a request body has started to stream, a reset may be the client's doing: only a failure
        // before the first body byte (connect refused, DNS, connect timeout) counts against the server.
        const blamesServer = error instanceof UpstreamError && !request.signal.aborted && !exchange.tally.bodyTooLarge && exchange.tally.bytesIn === 0;
        if (blamesServer) current.failed('passive', `${request.method} ${exchange.url.pathname}: ${error.message}`);
        const failed: Outcome = { kind: 'failed', exchange: sent, error };
        if (pin && error instanceof UpstreamError && !request.signal.aborted && !exchange.tally.bodyTooLarge) {
          // A pinned upload that broke on the server's side cannot go on there: mark it down and end
          // the session, so the client's next try starts afresh on a healthy server.
          if (!blamesServer) current.failed('passive', `${request.method} ${exchange.url.pathname} broke off: ${error.message}`);
          if (exchange.session && site.sessions) return Promise.resolve(site.sessions.end(exchange.session)).then(() => failed);
        }
        if (!retriable || !blamesServer) return failed;
        const alternative = next(current);
        if (alternative) pool.retries++;
        return tryOn(alternative, sent, error);
      },
    );
  };
  // A session remembers the primary its push began on (a backup only ever answers its HEADs).
  if (pin && exchange.session && !exchange.session.server && server && pool.primaries.includes(server) && site.sessions) {
    const first = server;
    return Promise.resolve(site.sessions.hold(exchange.session, first)).then(() => tryOn(first, exchange, undefined));
  }
  return tryOn(server, exchange, undefined);
}

/**
 * The one server a pinned exchange may use: its session's, or the healthy primary its subject
 * hashes to. `undefined` server: no primary is available (the caller pauses writes or uses backups).
 */
function pinnedServer(exchange: Exchange, pool: Pool): { server: Server | undefined } | { refused: Response; reason: string } {
  const { site, session, subject } = exchange;
  const held = session?.server;
  if (held && pool.primaries.includes(held)) {
    // Down, but nothing else is up either: its own server is still the only one worth a try.
    if (held.available() || !pool.pinned(subject!)) return { server: held };
    void Promise.resolve(site.sessions?.end(session!)).catch(() => {});
    return { refused: pinnedDownResponse(site, subject!, held), reason: `push session server ${held.href} is down` };
  }
  return { server: pool.pinned(subject!) };
}

/** The 503 of a push whose server went down mid-way: it cannot go on elsewhere (upload state is per server). */
function pinnedDownResponse(site: Site, subject: string, server: Server): Response {
  const what = site.errorFormat === 'registry' ? 'push' : 'write';
  const response = errorResponse(
    site.errorFormat,
    503,
    'UNAVAILABLE',
    `the ${what} of ${subject} on site ${site.name} was in progress on ${server.upstream.host}, which is now down; ` +
      `its uploads cannot continue on another server: ${what} again`,
  );
  response.headers.set('retry-after', '1');
  return response;
}

/** GET/HEAD normally have none; one that declares a body is not replayed either. */
function hasBody(request: Request): boolean {
  const length = request.headers.get('content-length');
  return (length !== null && length !== '0') || request.headers.has('transfer-encoding');
}

/** The 503 a write gets while no primary is healthy: docker clients print `errors[0].message`. */
export function pausedResponse(site: Site): Response {
  const what = site.errorFormat === 'registry' ? 'pushes' : 'writes';
  const response = errorResponse(
    site.errorFormat,
    503,
    'UNAVAILABLE',
    `${what} to ${site.name} are paused: no primary write upstream is healthy, and backups are read-only copies; reads still work, retry later`,
  );
  const seconds = Math.ceil(Math.max(site.health.backoffMs, site.health.checks ? site.health.intervalMs : 0) / 1000);
  response.headers.set('retry-after', String(Math.max(1, seconds)));
  return response;
}
