import { smallBodyLength, type ClientTimeouts, type OutgoingRequest, type UpstreamClient, type UpstreamResponse } from './client.ts';
import { tapStream } from '../stream/tap.ts';
import { IdleSweep } from './idle.ts';
import { readSmallBody, readSmallByteStream } from '../stream/small-body.ts';
import { idleCut, upstreamError } from './upstream-error.ts';
import { HeaderFields } from '../header-fields.ts';
import { settledFrom } from './settled-answer.ts';

type FetchFunction = (input: string, init: RequestInit & Record<string, unknown>) => Promise<Response>;

/** Runtime-specific knobs for the Fetch API client (see src/adapter/{bun,deno,worker}/client.ts). */
export interface FetchClientOptions {
  fetch?: FetchFunction;
  /** Merged into every fetch init, e.g. Bun's `{ decompress: false }` or Deno's `{ client }`. */
  init?: Record<string, unknown>;
  /**
   * Sent instead of the client's Accept-Encoding. Deno's fetch decodes every encoded answer unless
   * the request says exactly "identity", and has no switch to stop it: "identity" keeps bytes as sent.
   */
  acceptEncoding?: string;
  /**
   * Request headers given as a `Headers` (not built by the outgoing passes, e.g. a health check)
   * go as a record: Deno converts a Headers init through its generic iterator path (measured ~14
   * µs a request, a record ~6 µs). The passes' HeaderFields always go as a record; an answer's
   * fields are always copied into HeaderFields (src/header-fields.ts).
   */
  plainHeaders?: boolean;
  /**
   * One IdleSweep per request instead of one per client: workerd ties a timer to the request
   * that set it, so a sweep shared across requests could stop with the request that started it.
   */
  sweepPerRequest?: boolean;
  /**
   * The runtime's server pipes an untouched fetch body natively (Bun.serve, Deno.serve): large
   * bodies may then go on with a deadline instead of per-chunk touches (forward/native-pipe.ts).
   */
  nativePipe?: boolean;
  /**
   * Small answers are read with a BYOB reader into one buffer of their length
   * (stream/small-body.ts readSmallByteStream): Deno's fetch body allocates 64 KiB per default read.
   */
  byobReads?: boolean;
  /** The IdleSweep to share (Deno's two halves); a new one otherwise. */
  sweep?: IdleSweep;
  /** Runs per chunk of a streamed (not small) answer as it passes on, besides the idle touch: Deno's and Bun's memory guards count them. */
  onStreamedChunk?: () => void;
  /** Runs per chunk of a request body as it goes upstream, with its length in bytes: Bun's memory guard counts them. */
  onUploadChunk?: (bytes: number) => void;
  /**
   * The body of a small answer (declared length at most SMALL_BODY) when the runtime already holds
   * all of it, without a stream; `undefined` when it does not (then it is read chunk by chunk, each
   * chunk timed by timeouts.idle), and the answer must stay readable: see src/adapter/bun/client.ts.
   */
  settledBody?: (answer: Response) => Uint8Array | undefined;
  /**
   * The runtime's fetch answers carry fields that may be edited (Bun 1.4.5; the Fetch standard
   * makes them immutable, as Node's and Deno's are): the passes edit them in place, no copy.
   */
  editableAnswerFields?: boolean;
}

/**
 * Forwards with the Fetch API: portable, so it serves Bun, Deno (bodiless requests) and workerd
 * alike. It only moves bytes: idle timing is the client's IdleSweep (forward/idle.ts), small
 * bodies are read by stream/small-body.ts, failures worded by forward/upstream-error.ts. A large
 * answer's body is returned untouched (so a runtime can pipe it natively), with `watch` for
 * whoever passes it on.
 */
export function fetchClient(timeouts: ClientTimeouts, options: FetchClientOptions = {}): UpstreamClient {
  const fetchFn: FetchFunction = options.fetch ?? ((input, init) => fetch(input, init));
  const shared = options.sweep ?? new IdleSweep(timeouts.idle * 1000);
  return {
    // Not async: the answer comes back one promise hop after fetch's (no await per layer); what
    // fails before fetch is called is a rejection all the same.
    send(outgoing: OutgoingRequest): Promise<UpstreamResponse> {
      const { signal } = outgoing;
      if (signal.aborted) return Promise.reject(signal.reason);
      const sweep = options.sweepPerRequest ? new IdleSweep(timeouts.idle * 1000) : shared;
      // One signal for the client leaving, the idle timeout and a broken upload (no AbortSignal.any per request).
      const controller = new AbortController();
      let broken: unknown;
      const transfer = sweep.start(() => controller.abort(idleCut(timeouts)));
      const onAbort = () => controller.abort(signal.reason);
      // No `{ once: true }`: an AbortSignal fires once anyway, `finish` removes the listener, and
      // Bun takes an options object on a slower path (~0.3 µs a request of ~0.6).
      signal.addEventListener('abort', onAbort);
      const finish = () => {
        transfer.end();
        signal.removeEventListener('abort', onAbort);
      };
      const failed = (error: unknown): unknown => {
        finish();
        if (signal.aborted) return signal.reason ?? error;
        if (broken !== undefined) return broken;
        return upstreamError(error, outgoing.url, timeouts, { idle: transfer.expired });
      };
      const rejected = (error: unknown): never => {
        throw failed(error);
      };
      /** The answer's head came: its fields copied, a small body taken whole, a large one passed on with `watch`. */
      const answered = (answer: Response): UpstreamResponse | Promise<UpstreamResponse> => {
        transfer.touch();
        // A fetch answer's headers are immutable and the incoming passes edit them: a copy (Deno's
        // Headers go through WebIDL on every call). Bun's are native and may be edited in place.
        const copy = options.plainHeaders ? HeaderFields.from(answer.headers) : options.editableAnswerFields ? answer.headers : new Headers(answer.headers);
        const status = answer.status;
        const response: UpstreamResponse = { status, statusText: answer.statusText, headers: copy, body: null };
        const bodiless = outgoing.method === 'HEAD' || status === 204 || status === 304;
        // A small body already whole when the headers came (the usual manifest) is taken at once; the
        // length checked, else read below as any small body. Before `answer.body`, which builds a stream.
        const settled = options.settledBody && !bodiless ? wholeIfSettled(options.settledBody, answer, copy) : undefined;
        if (settled) {
          finish();
          response.body = settled;
          // Its fields edited in place, the answer itself can go out if nothing else changes.
          if (copy === answer.headers) settledFrom(response, answer, settled);
          return response;
        }
        if (!answer.body || bodiless) {
          finish();
          if (answer.body) void answer.body.cancel().catch(() => {});
          // No body at all (a HEAD's answer on Bun): the answer itself can go out as well.
          else if (copy === answer.headers) settledFrom(response, answer, null);
          return response;
        }
        const small = smallBodyLength(copy);
        if (small !== undefined) {
          return (options.byobReads ? readSmallByteStream : readSmallBody)(answer.body, small, () => transfer.touch()).then((body) => {
            finish();
            response.body = body;
            return response;
          }, rejected);
        }
        response.body = answer.body;
        const counted = options.onStreamedChunk;
        const chunk = counted
          ? () => {
              transfer.touch();
              counted();
            }
          : () => transfer.touch();
        response.watch = { chunk, end: finish, ...(options.nativePipe && { deadline: (ms: number) => transfer.deadline(ms) }) };
        return response;
      };
      let fetching: Promise<Response>;
      try {
        if (options.acceptEncoding) outgoing.headers.set('accept-encoding', options.acceptEncoding);
        // A request body that fails (client gone, over the site's cap) must cut the upstream request:
        // workerd's fetch ends a chunked upload cleanly when its source errors, so the origin would
        // take a truncated body for a whole one.
        const uploaded = options.onUploadChunk;
        const upload =
          outgoing.body &&
          tapStream(outgoing.body, {
            onChunk: uploaded
              ? (chunk) => {
                  transfer.touch();
                  uploaded(chunk.byteLength);
                }
              : () => transfer.touch(),
            onError: (error) => {
              broken ??= error ?? new Error('request body failed');
              controller.abort(broken);
            },
          });
        let headers: HeadersInit = outgoing.headers;
        if (outgoing.headers instanceof HeaderFields) headers = outgoing.headers.toInit();
        else if (options.plainHeaders) headers = HeaderFields.from(outgoing.headers).toInit();
        const init: RequestInit & Record<string, unknown> = {
          method: outgoing.method,
          headers,
          body: upload && withDeclaredLength(upload, outgoing.headers),
          redirect: 'manual',
          duplex: 'half',
          signal: controller.signal,
        };
        if (options.init) Object.assign(init, options.init);
        fetching = fetchFn(outgoing.url, init);
      } catch (error) {
        return Promise.reject(failed(error));
      }
      return fetching.then(answered, rejected);
    },
    async close() {
      shared.stop();
    },
  };
}

/** `settled(answer)` when the answer declares a small length and that is what it holds; else `undefined`. */
function wholeIfSettled(settled: (answer: Response) => Uint8Array | undefined, answer: Response, headers: Headers): Uint8Array | undefined {
  const length = smallBodyLength(headers);
  if (length === undefined) return undefined;
  const whole = settled(answer);
  return whole?.byteLength === length ? whole : undefined;
}

type FixedLengthStreamClass = new (length: number) => { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };

/**
 * workerd's fetch sends a JavaScript stream chunked, whatever `Content-Length` says; the readable
 * half of its `FixedLengthStream` (Cloudflare's API, workerd only) is a stream of known length, sent
 * with that `Content-Length` and failed if the bytes come out more or fewer. Elsewhere: `body` as is
 * (Bun's fetch keeps a declared length by itself).
 */
function withDeclaredLength(body: ReadableStream<Uint8Array>, headers: Headers): ReadableStream<Uint8Array> {
  const Fixed = (globalThis as { FixedLengthStream?: FixedLengthStreamClass }).FixedLengthStream;
  const declared = headers.get('content-length');
  if (!Fixed || declared === null || !/^\d+$/.test(declared)) return body;
  const fixed = new Fixed(Number(declared));
  // A failing source aborts the writable half, which fails the upload (and `broken` cuts it).
  body.pipeTo(fixed.writable).catch(() => {});
  return fixed.readable;
}
