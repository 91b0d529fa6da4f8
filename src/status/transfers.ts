import type { Exchange } from '../exchange.ts';

/** One request in flight as the status JSON shows it. */
export interface TransferView {
  id: number;
  site: string;
  role: string;
  /** The server it went to (the last one tried, when a GET failed over); null before it was sent. */
  upstream: string | null;
  method: string;
  path: string;
  client: string;
  startedAt: string;
  elapsedMs: number;
  /** Request body bytes received from the client so far (uploads). */
  bytesIn: number;
  /** Response body bytes sent to the client so far (downloads). */
  bytesOut: number;
  /** The request body's declared length (Content-Length of an upload); null when none was declared. */
  totalIn: number | null;
  /** The answer's declared length, once its headers are in; null before that or when none was declared. */
  totalOut: number | null;
  /** How far the body moving now is, 0–100: the answer's when its length is known, else the request body's; null when neither is. */
  percent: number | null;
  /** Bytes per second, both directions together, over the last sampling period (≥ 1 s), or since the start. */
  rate: number;
}

/** The handle `Transfers.begin` returns: `end()` once the exchange is logged. */
export interface Transfer {
  /** The server the request went to, when the caller knows better than the exchange's tally (`tally.server`). */
  upstream?: string;
  end(): void;
}

/** One exchange in flight: a class, so that `begin` makes one object per request and no closure. */
class Live implements Transfer {
  upstream?: string;
  sampleAt: number;
  sampleBytes = 0;
  rate = 0;

  constructor(
    readonly id: number,
    readonly exchange: Exchange,
    private readonly live: Set<Live>,
  ) {
    this.sampleAt = exchange.startedAt;
  }

  end(): void {
    this.live.delete(this);
  }
}

/** Rates are re-sampled at most this often, however many pages poll. */
const SAMPLE_MS = 1000;

/**
 * The exchanges in flight, for the status page. `begin` and `end` are O(1) (a Set add and delete);
 * the byte counts are the exchange's own tally, which forwarding updates while bodies stream, read
 * only when the status is asked for.
 */
export class Transfers {
  readonly #live = new Set<Live>();
  #next = 1;

  constructor(readonly now: () => number = Date.now) {}

  get size(): number {
    return this.#live.size;
  }

  /** `exchange` in flight from now until the returned handle's `end()` (idempotent). */
  begin(exchange: Exchange): Transfer {
    const live = new Live(this.#next++, exchange, this.#live);
    if (this.#next > Number.MAX_SAFE_INTEGER - 1) this.#next = 1;
    this.#live.add(live);
    return live;
  }

  /** The transfers of `site` (all when undefined), oldest first, at most `limit` of them. */
  list(site?: string, limit = 100): TransferView[] {
    const now = this.now();
    const out: TransferView[] = [];
    for (const live of this.#live) {
      if (site !== undefined && live.exchange.site.name !== site) continue;
      if (out.length >= limit) break;
      const { exchange } = live;
      const bytes = exchange.tally.bytesIn + exchange.tally.bytesOut;
      if (now - live.sampleAt >= SAMPLE_MS) {
        live.rate = ((bytes - live.sampleBytes) * 1000) / (now - live.sampleAt);
        live.sampleAt = now;
        live.sampleBytes = bytes;
      } else if (live.sampleBytes === 0 && now > exchange.startedAt) {
        // Not sampled yet: the average since the start.
        live.rate = (bytes * 1000) / (now - exchange.startedAt);
      }
      const totalIn = declaredLength(exchange.request);
      const totalOut = exchange.tally.answerLength ?? null;
      out.push({
        id: live.id,
        site: exchange.site.name,
        role: exchange.steered ?? exchange.role,
        upstream: live.upstream ?? exchange.tally.server ?? null,
        method: exchange.request.method,
        path: exchange.url.pathname,
        client: exchange.clientAddress,
        startedAt: new Date(exchange.startedAt).toISOString(),
        elapsedMs: Math.max(0, now - exchange.startedAt),
        bytesIn: exchange.tally.bytesIn,
        bytesOut: exchange.tally.bytesOut,
        totalIn,
        totalOut,
        percent: totalOut ? percentOf(exchange.tally.bytesOut, totalOut) : totalIn ? percentOf(exchange.tally.bytesIn, totalIn) : null,
        rate: Math.max(0, Math.round(live.rate)),
      });
    }
    return out;
  }
}

/** A request body's declared length; null for none (GET, HEAD, a chunked upload). */
function declaredLength(request: Request): number | null {
  if (request.method === 'GET' || request.method === 'HEAD') return null;
  const length = request.headers.get('content-length');
  return length !== null && /^\d+$/.test(length) ? Number(length) : null;
}

/** Whole percent done, floored (100 only when done). */
const percentOf = (done: number, total: number): number => Math.min(100, Math.floor((done * 100) / total));
