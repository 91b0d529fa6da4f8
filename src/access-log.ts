import type { Exchange } from './exchange.ts';

export interface AccessEntry {
  time: string;
  site: string | null;
  host: string;
  method: string;
  path: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  role: string | null;
  upstream: string | null;
  client: string;
  error?: string;
  /** Something the router chose not to do, e.g. a packument over the mapping cap passed unmapped. */
  note?: string;
  /** The edge's blob cache (src/edge/blob-cache.ts): served from it, filled, bypassed, or the authorization HEAD. */
  cache?: 'hit' | 'miss' | 'bypass' | 'check';
}

export type AccessLog = (entry: AccessEntry) => void;

/** One JSON object per line on stdout, the shape log shippers expect. */
export const jsonLinesLog: AccessLog = (entry) => console.log(JSON.stringify(entry));
export const quietLog: AccessLog = () => {};

// Requests that start in the same millisecond share one ISO string (formatting a Date costs more
// than the rest of the entry; under load several requests start each millisecond).
let lastMs = -1;
let lastIso = '';
const isoTime = (ms: number): string => (ms === lastMs ? lastIso : ((lastMs = ms), (lastIso = new Date(ms).toISOString())));

/** The access-log line for a request, before the body-dependent counts are final. */
export function entryFor(url: URL, method: string, started: number, status: number, client: string, exchange: Exchange | null): AccessEntry {
  return {
    time: isoTime(started),
    site: exchange?.site.name ?? null,
    host: url.host,
    method,
    path: url.pathname,
    status,
    bytesIn: exchange?.tally.bytesIn ?? 0,
    bytesOut: exchange?.tally.bytesOut ?? 0,
    durationMs: Date.now() - started,
    role: exchange?.steered ?? exchange?.role ?? null,
    upstream: exchange?.upstream.href ?? null,
    client,
    ...(exchange?.tally.note && { note: exchange.tally.note }),
  };
}
