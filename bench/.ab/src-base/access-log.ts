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
}

export type AccessLog = (entry: AccessEntry) => void;

/** One JSON object per line on stdout, the shape log shippers expect. */
export const jsonLinesLog: AccessLog = (entry) => console.log(JSON.stringify(entry));
export const quietLog: AccessLog = () => {};
