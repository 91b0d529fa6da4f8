import { connect, type Socket } from 'node:net';
import type { BodyCount, NodeSink } from './counted-body.ts';
import { countBody } from './counted-body.ts';
import { IdleSweep, type Transfer } from './idle.ts';
import { streamed } from './scavenge.ts';
import { SmallBody } from '../stream/small-body.ts';
import { idleCut, upstreamError } from './upstream-error.ts';
import { HeaderFields } from '../header-fields.ts';
import { smallBodyLength, type ClientTimeouts, type OutgoingRequest, type UpstreamClient, type UpstreamResponse } from './client.ts';

/** Bytes per socket read of a body piped to the client: nginx's tuned proxy_buffers size; 72 reads for 64 MiB against undici's ~1,100. */
const READ_BUFFER = 1024 * 1024;
/** Each connection's own buffer for heads, small bodies and web-stream bodies (their bytes are copied out of it at once). */
const HEAD_BUFFER = 64 * 1024;
/** A head larger than this is refused (undici's default maximum header size). */
const HEAD_LIMIT = 16 * 1024;
/** Read buffers kept free across transfers (MiB). */
const FREE_BUFFERS = 4;
/**
 * A read goes into what is left of the current READ_BUFFER while that is at least this much, so a
 * buffer is filled by several reads before the next one is taken: a socket read returns what has
 * arrived (often far less than 1 MiB), and a whole buffer per read held until its write completed
 * kept ~25 MB more in flight (measured: peak RSS 127–133 MB against undici's 100–102 over 4 GiB).
 */
const MIN_READ = 256 * 1024;
/** The upstream pauses while this many bytes wait in the client's socket, and resumes below it. */
const PIPE_HIGH = 2 * READ_BUFFER;
/** Bytes a web-stream body may queue ahead of its reader before the upstream pauses (as undici-client.ts's BODY_BUFFER). */
const WEB_AHEAD = 256 * 1024;
/** An idle keep-alive connection is closed after this long (undici's default), and at most this many are kept per origin. */
const KEEP_IDLE_MS = 4000;
const KEEP_PER_ORIGIN = 64;

const free: Buffer[] = [];
/** Slices of a read buffer still queued in a client's socket, by buffer: it is read into again only at zero. */
const writing = new WeakMap<Buffer, number>();
/** Buffers a connection still reads into (the rest of them). */
const reading = new WeakSet<Buffer>();
const takeBuffer = (): Buffer => free.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER);
function recycle(buffer: Buffer): void {
  if (!writing.has(buffer) && !reading.has(buffer) && free.length < FREE_BUFFERS && !free.includes(buffer)) free.push(buffer);
}
function written(buffer: Buffer): void {
  const left = (writing.get(buffer) ?? 1) - 1;
  if (left > 0) return void writing.set(buffer, left);
  writing.delete(buffer);
  recycle(buffer);
}

/** A field name: a token (RFC 9110 §5.1). */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** In a header line once split on CRLF: NUL, or a lone CR or LF (RFC 9112 §2.2; Node would refuse to write such a value on). */
const FORBIDDEN_IN_FIELD = /[\0\r\n]/;

/** A new connection did not open within timeouts.connect. */
class ConnectTimeout extends Error {
  code = 'UND_ERR_CONNECT_TIMEOUT';
}
/** A reused keep-alive connection closed before the answer's first byte: the request goes again on a new one. */
class Stale extends Error {}
/** The upstream's head (or chunked framing) is not HTTP/1.1; the code gives net-errors.ts's scheme-mismatch hint. */
const malformed = (what: string) => Object.assign(new Error(`malformed answer: ${what}`), { code: 'HPE_INVALID_CONSTANT' });

/** An upstream's address as connected to, by its origin (`http://host:port`): parsed once, not per request. */
interface Origin {
  /** The pool's key and the Host sent when the passes set none. */
  readonly host: string;
  readonly hostname: string;
  readonly port: number;
}

/**
 * `url` (`http://authority/path?query`, as passes/outgoing.ts builds it from an Upstream's origin)
 * split into its origin and request target. The target is kept as it came: it was serialized by
 * the WHATWG URL parser already (the client's URL), so parsing it again would give it back unchanged.
 * `undefined`: a URL this cheap split does not take (userinfo, no path); `new URL` does those.
 */
function splitTarget(url: string, origins: Map<string, Origin>): { origin: Origin; target: string } | undefined {
  const slash = url.indexOf('/', 7);
  if (slash < 0) return undefined;
  const key = url.slice(0, slash);
  let origin = origins.get(key);
  if (!origin) {
    if (!/^http:\/\/[^/?#@\\]+$/.test(key) || origins.size >= 1024) return undefined;
    const parsed = new URL(key);
    origin = { host: parsed.host, hostname: parsed.hostname.replace(/^\[|\]$/g, ''), port: Number(parsed.port || 80) };
    origins.set(key, origin);
  }
  const hash = url.indexOf('#', slash);
  return { origin, target: hash < 0 ? url.slice(slash) : url.slice(slash, hash) };
}

/** A URL splitTarget does not take, through the WHATWG parser. */
function wholeUrl(href: string): { origin: Origin; target: string } {
  const url = new URL(href);
  return { origin: { host: url.host, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) }, target: url.pathname + url.search };
}

/** What the connection's reads go to: the request on it, or nothing while it waits in the pool. */
interface Reads {
  read(bytes: Buffer, owner: Buffer): void;
  closed(error: Error | undefined): void;
}

/** One upstream connection: reads go through `onread` into its own or pooled buffers; `paused` is the read callback's answer. */
class Connection {
  readonly socket: Socket;
  readonly head = Buffer.allocUnsafeSlow(HEAD_BUFFER);
  exchange: Reads | undefined;
  reused = false;
  paused = false;
  /** The next read goes into a pooled READ_BUFFER (a body piped to the client) instead of `head`. */
  big = false;
  error: Error | undefined;
  /** The pooled buffer reads go into while `big`, and how much of it they filled. */
  #current: Buffer | undefined;
  #used = 0;

  constructor(host: string, port: number, connectMs: number) {
    this.socket = connect({
      host,
      port,
      noDelay: true,
      onread: { buffer: () => this.#next(), callback: (n: number, buffer: Buffer) => this.#read(n, buffer) },
    });
    const timer = setTimeout(() => this.socket.destroy(new ConnectTimeout(`timed out connecting after ${connectMs / 1000} s`)), connectMs);
    this.socket.once('connect', () => clearTimeout(timer));
    this.socket.on('error', (error) => (this.error ??= error));
    this.socket.on('timeout', () => this.exchange || this.socket.destroy());
    this.socket.on('close', () => {
      clearTimeout(timer);
      this.#retire();
      this.exchange?.closed(this.error);
    });
  }

  /** Where the next read goes (Node asks after each read): `head`, or the rest of the current pooled buffer. */
  #next(): Buffer {
    if (!this.big) {
      this.#retire();
      return this.head;
    }
    if (!this.#current || READ_BUFFER - this.#used < MIN_READ) {
      this.#retire();
      this.#current = takeBuffer();
      this.#used = 0;
      reading.add(this.#current);
    }
    return this.#current.subarray(this.#used);
  }

  #retire(): void {
    if (!this.#current) return;
    reading.delete(this.#current);
    recycle(this.#current);
    this.#current = undefined;
  }

  #read(n: number, buffer: Buffer): boolean {
    // `buffer` is `head` or a view of the current pooled buffer, which owns the bytes.
    const owner = buffer === this.head ? this.head : this.#current!;
    if (owner !== this.head) this.#used += n;
    if (this.exchange) this.exchange.read(buffer.subarray(0, n), owner);
    // Bytes nobody asked for: the connection is out of step.
    else this.socket.destroy();
    return !this.paused;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }
}

/**
 * Node's upstream client for bodiless GET and HEAD requests to `http:` upstreams (blobs, manifests);
 * everything else goes to `other` (undici). Its own HTTP/1.1 over `net.connect({ onread })`: a body
 * piped to the client (forward/counted-body.ts, the Node adapter's path) is read into pooled 1 MiB
 * buffers, each written to the client's socket as is and read into again once that write is done,
 * so a large download makes no garbage per read and few read callbacks (Node's sockets read
 * 64 KiB into a fresh buffer each time). Keep-alive connections per origin; a reused one that
 * closes before the answer's first byte is retried once on a new one. Heads parsed here (1xx
 * skipped, malformed heads refused); bodies by Content-Length, chunked, or to the close. Idle
 * timing, small bodies and failure wording as in undici-client.ts.
 */
export function socketClient(timeouts: ClientTimeouts, other: UpstreamClient): UpstreamClient {
  const sweep = new IdleSweep(timeouts.idle * 1000);
  const cutIdle = (expired: Transfer) => expired.cut?.(idleCut(timeouts));
  const pool = new Map<string, Connection[]>();
  const origins = new Map<string, Origin>();
  const open = (origin: Origin) => new Connection(origin.hostname, origin.port, timeouts.connect * 1000);
  const take = (key: string): Connection | undefined => {
    const idle = pool.get(key);
    for (let conn = idle?.pop(); conn; conn = idle!.pop()) {
      // Closed, or half-closed by the upstream while it waited here.
      if (conn.socket.destroyed || !conn.socket.writable || conn.socket.readableEnded) continue;
      conn.socket.setTimeout(0);
      conn.socket.ref();
      conn.reused = true;
      return conn;
    }
    return undefined;
  };
  const keep = (key: string, conn: Connection) => {
    conn.exchange = undefined;
    let idle = pool.get(key);
    if (!idle) pool.set(key, (idle = []));
    // Closed ones are dropped here and in take (no listener per stay in the pool).
    if (idle.some((kept) => kept.socket.destroyed)) pool.set(key, (idle = idle.filter((kept) => !kept.socket.destroyed)));
    if (idle.length >= KEEP_PER_ORIGIN) return void conn.socket.destroy();
    idle.push(conn);
    conn.socket.unref();
    conn.socket.setTimeout(KEEP_IDLE_MS);
  };
  return {
    async send(outgoing: OutgoingRequest): Promise<UpstreamResponse> {
      const { method, body, signal } = outgoing;
      if (body || (method !== 'GET' && method !== 'HEAD') || !outgoing.url.startsWith('http:')) return other.send(outgoing);
      const split = splitTarget(outgoing.url, origins);
      const { origin, target } = split ?? wholeUrl(outgoing.url);
      let transfer: Transfer | undefined;
      const attempt = (conn: Connection) => {
        transfer = sweep.start(cutIdle);
        return exchange(conn, outgoing, origin.host, target, transfer, (reusable) => (reusable ? keep(origin.host, conn) : conn.socket.destroy()));
      };
      try {
        const reused = take(origin.host);
        if (!reused) return await attempt(open(origin));
        return await attempt(reused).catch((error) => (error instanceof Stale && !signal.aborted ? attempt(open(origin)) : Promise.reject(error)));
      } catch (error) {
        transfer?.end();
        if (signal.aborted) throw signal.reason ?? error;
        const cause = error instanceof Stale ? error.cause : error;
        throw upstreamError(cause, outgoing.url, timeouts, { idle: transfer?.expired, connect: cause instanceof ConnectTimeout });
      }
    },
    async close() {
      sweep.stop();
      for (const idle of pool.values()) for (const conn of idle) conn.socket.destroy();
      pool.clear();
      await other.close?.();
    },
  };
}

/**
 * One request on `conn`. Resolves at the answer's head with a streamed body (its consumer picks the
 * web stream or the pipe; until then the connection holds what came and pauses), or at the end of a
 * small or absent body. Rejects with the socket's error, a malformed head, a Stale (a reused
 * connection closed before any byte) or the signal's reason. `done(reusable)` hands the connection
 * back once the body was read to its end (or destroys it).
 */
function exchange(
  conn: Connection,
  outgoing: OutgoingRequest,
  host: string,
  target: string,
  transfer: Transfer,
  done: (reusable: boolean) => void,
): Promise<UpstreamResponse> {
  return new Promise<UpstreamResponse>((resolve, reject) => new UpstreamExchange(conn, outgoing, transfer, done, resolve, reject).start(host, target));
}

/** The client's socket a body is piped to (a ServerResponse): its writes take a callback. */
type PipeSink = NodeSink & { write(chunk: Uint8Array, callback: () => void): boolean };

/**
 * The state of one request on a connection and the steps of its answer, as one object with methods:
 * a closure per step and a context for them cost a small GET ~2.5 KB of garbage. It is also the
 * connection's reader (`Reads`) and the signal's listener (`handleEvent`).
 */
class UpstreamExchange implements Reads {
  readonly #conn: Connection;
  readonly #outgoing: OutgoingRequest;
  readonly #signal: AbortSignal;
  readonly #transfer: Transfer;
  readonly #done: (reusable: boolean) => void;
  readonly #resolve: (response: UpstreamResponse) => void;
  readonly #reject: (error: unknown) => void;
  readonly #bodiless: boolean;
  #state: 'head' | 'body' | 'done' = 'head';
  #settled = false;
  #partial: Buffer | undefined;
  #anyByte = false;
  // A reused connection that closed before any byte of the answer (the upstream dropped it meanwhile).
  #stale = false;
  // HEAD, 204, 304: no body (null, not empty bytes).
  #none = false;
  #reusable = true;
  // Framing: bytes left of the Content-Length or of the current chunk; chunked: the parser's step and its line so far.
  #framing: 'length' | 'chunked' | 'close' = 'length';
  #left = 0;
  #step: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
  #line = '';
  // Where the body goes: read whole, held until its consumer comes, a web stream, or piped.
  #consumer: 'small' | 'hold' | 'web' | 'pipe' = 'hold';
  #small: { response: UpstreamResponse; body: SmallBody } | undefined;
  #held: Buffer[] = [];
  #heldEnd: { error?: Error } | undefined;
  #stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  #count: BodyCount | undefined;
  #out: PipeSink | undefined;

  constructor(
    conn: Connection,
    outgoing: OutgoingRequest,
    transfer: Transfer,
    done: (reusable: boolean) => void,
    resolve: (response: UpstreamResponse) => void,
    reject: (error: unknown) => void,
  ) {
    this.#conn = conn;
    this.#signal = outgoing.signal;
    this.#transfer = transfer;
    this.#done = done;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#bodiless = outgoing.method === 'HEAD';
    this.#outgoing = outgoing;
  }

  /** Listens for the client leaving and writes the request, in one write; the router's passes set Host. */
  start(host: string, target: string): void {
    const signal = this.#signal;
    if (signal.aborted) {
      // Nothing was written on the connection: it goes (it would sit taken from the pool otherwise).
      this.#done(false);
      this.#reject(signal.reason);
      return;
    }
    signal.addEventListener('abort', this, { once: true });
    this.#transfer.cut = (error) => this.#fail(error);
    this.#conn.exchange = this;
    const outgoing = this.#outgoing;
    let text = `${outgoing.method} ${target} HTTP/1.1\r\n`;
    if (!outgoing.headers.has('host')) text += `host: ${host}\r\n`;
    outgoing.headers.forEach((value, name) => (text += `${name}: ${value}\r\n`));
    this.#conn.socket.write(`${text}\r\n`, 'latin1');
  }

  /** The signal's 'abort': the client went away. */
  handleEvent(): void {
    const { reason } = this.#signal;
    this.#fail(reason instanceof Error ? reason : new Error('the client went away'));
  }

  #fail(error: Error): void {
    if (this.#state === 'done') return;
    this.#state = 'done';
    this.#signal.removeEventListener('abort', this);
    this.#transfer.end();
    this.#done(false);
    if (!this.#settled) {
      this.#settled = true;
      this.#reject(this.#stale ? new Stale('a reused connection closed', { cause: error }) : this.#small ? this.#small.body.brokeOff(error) : error);
      return;
    }
    this.#count?.end(error);
    if (this.#consumer === 'hold') this.#heldEnd = { error };
    else if (this.#consumer === 'pipe' && !this.#out!.destroyed) this.#out!.destroy(error);
    else if (this.#consumer === 'web') {
      try {
        this.#stream!.error(error);
      } catch {
        // Cancelled by its reader already.
      }
    }
  }

  #complete(): void {
    this.#state = 'done';
    this.#signal.removeEventListener('abort', this);
    this.#transfer.end();
    this.#conn.paused = false;
    this.#conn.big = false;
    this.#done(this.#reusable);
    if (this.#consumer === 'small') {
      this.#settled = true;
      const small = this.#small!;
      try {
        small.response.body = this.#none ? null : small.body.bytes();
        this.#resolve(small.response);
      } catch (error) {
        this.#reject(error);
      }
    } else if (this.#consumer === 'hold') this.#heldEnd = {};
    else if (this.#consumer === 'web') {
      this.#stream!.close();
      this.#count!.end();
    } else {
      const count = this.#count!;
      this.#out!.on('finish', () => count.end());
      this.#out!.end();
    }
  }

  #deliver(bytes: Buffer, owner: Buffer): void {
    if (bytes.byteLength === 0) return;
    if (this.#consumer === 'small') {
      const over = this.#small!.body.add(Buffer.from(bytes));
      if (over) this.#fail(over);
      return;
    }
    this.#count!.bytes += bytes.byteLength;
    const conn = this.#conn;
    if (this.#consumer === 'pipe') {
      const out = this.#out!;
      if (out.destroyed) return;
      // A slice of the connection's own buffer is copied (its next read overwrites it); a pooled buffer waits for the write.
      if (owner === conn.head) out.write(Buffer.from(bytes), () => this.#transfer.touch());
      else {
        writing.set(owner, (writing.get(owner) ?? 0) + 1);
        out.write(bytes, () => this.#afterWrite(owner));
      }
      if (out.writableLength >= PIPE_HIGH) conn.paused = true;
      return;
    }
    streamed(bytes.byteLength);
    if (this.#consumer === 'hold') {
      this.#held.push(Buffer.from(bytes));
      conn.paused = true;
    } else {
      const stream = this.#stream!;
      stream.enqueue(Buffer.from(bytes));
      if ((stream.desiredSize ?? 0) <= -WEB_AHEAD) conn.paused = true;
    }
  }

  #afterWrite(owner: Buffer): void {
    written(owner);
    // The client reading is progress too (a slow client, not a stalled upstream).
    this.#transfer.touch();
    if (this.#state === 'body' && this.#out!.writableLength < PIPE_HIGH) this.#conn.resume();
  }

  #onHead(head: string): boolean {
    const lines = head.split('\r\n');
    const status = /^HTTP\/1\.([01]) ([1-5]\d\d)(?: ([^\r\n]*))?$/.exec(lines[0]!);
    if (!status) throw malformed(`status line ${JSON.stringify(lines[0]!.slice(0, 40))}`);
    const code = Number(status[2]);
    if (code === 101) throw malformed('101 Switching Protocols, which was not asked for');
    if (code < 200) return false;
    // Checked here once (a token, a colon; no NUL, and no CR or LF but the pairs split on), then taken as read.
    const raw: string[] = [];
    for (let i = 1; i < lines.length; i++) {
      const field = lines[i]!;
      const colon = field.indexOf(':');
      const name = field.slice(0, colon);
      if (colon <= 0 || !FIELD_NAME.test(name) || FORBIDDEN_IN_FIELD.test(field)) throw malformed(`header line ${JSON.stringify(field.slice(0, 40))}`);
      // The value less the whitespace around it (RFC 9112 §5.1: OWS is space or tab), sliced once (slice then trim made two strings).
      let from = colon + 1;
      let to = field.length;
      while (from < to && (field.charCodeAt(from) === 32 || field.charCodeAt(from) === 9)) from++;
      while (to > from && (field.charCodeAt(to - 1) === 32 || field.charCodeAt(to - 1) === 9)) to--;
      raw.push(name, field.slice(from, to));
    }
    const headers = HeaderFields.fromRaw(raw);
    const response: UpstreamResponse = { status: code, statusText: status[3] ?? '', headers, body: null };
    const connection = headers.get('connection')?.toLowerCase() ?? '';
    this.#reusable = status[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
    this.#state = 'body';
    if (this.#bodiless || code === 204 || code === 304) {
      this.#consumer = 'small';
      this.#none = true;
      this.#small = { response, body: new SmallBody(0) };
      return true;
    }
    const coding = headers.get('transfer-encoding');
    const declared = headers.get('content-length');
    if (coding !== null) {
      this.#framing = /(^|,)\s*chunked\s*$/i.test(coding) ? 'chunked' : 'close';
      if (declared !== null || this.#framing === 'close') this.#reusable = false;
    } else if (declared !== null && /^\d{1,15}$/.test(declared)) {
      this.#left = Number(declared);
    } else if (declared !== null) {
      // Repeated (`5, 5`): one value, or refused.
      const values = new Set(declared.split(',').map((value) => value.trim()));
      if (values.size !== 1 || !/^\d{1,15}$/.test([...values][0]!)) throw malformed(`Content-Length ${declared}`);
      this.#left = Number([...values][0]);
    } else {
      this.#framing = 'close';
      this.#reusable = false;
    }
    const length = this.#framing === 'length' ? smallBodyLength(headers) : undefined;
    if (length !== undefined) {
      this.#consumer = 'small';
      this.#small = { response, body: new SmallBody(length) };
      return true;
    }
    response.body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => void (this.#stream = controller),
        pull: () => {
          this.#transfer.touch();
          if (this.#consumer === 'hold') this.#toWeb();
          // Only while this answer still owns the connection (once done, it may carry another request).
          else if (this.#state === 'body') this.#conn.resume();
        },
        cancel: (reason) => this.#fail(reason instanceof Error ? reason : new Error('the reader cancelled the body')),
      },
      { highWaterMark: 0 },
    );
    const count = countBody(response.body, this.#signal);
    count.pipe = (sink) => this.#pipeTo(sink);
    this.#count = count;
    this.#settled = true;
    this.#resolve(response);
    return true;
  }

  /** The first read of the body: the held bytes, then reading on. */
  #toWeb(): void {
    this.#consumer = 'web';
    const stream = this.#stream!;
    for (const bytes of this.#held) stream.enqueue(bytes);
    this.#held = [];
    const heldEnd = this.#heldEnd;
    if (heldEnd?.error) stream.error(heldEnd.error);
    else if (heldEnd) stream.close();
    else this.#conn.resume();
    if (heldEnd && !heldEnd.error) this.#count!.end();
  }

  #pipeTo(sink: NodeSink): void {
    if (this.#consumer !== 'hold') throw new Error('the answer is read already');
    this.#consumer = 'pipe';
    this.#out = sink as PipeSink;
    const count = this.#count!;
    sink.on('close', () => {
      if (sink.writableFinished) return;
      const reason = new Error('the client went away');
      this.#fail(reason);
      count.end(reason);
    });
    for (const bytes of this.#held) sink.write(bytes);
    this.#held = [];
    const heldEnd = this.#heldEnd;
    if (heldEnd?.error) return void sink.destroy(heldEnd.error);
    if (heldEnd) {
      sink.on('finish', () => count.end());
      return void sink.end();
    }
    this.#conn.big = true;
    this.#conn.resume();
  }

  /** Body bytes, framed. */
  #body(bytes: Buffer, owner: Buffer): void {
    if (this.#framing === 'close') {
      this.#deliver(bytes, owner);
      return;
    }
    if (this.#framing === 'length') {
      const take = Math.min(this.#left, bytes.byteLength);
      this.#deliver(bytes.subarray(0, take), owner);
      this.#left -= take;
      if (bytes.byteLength > take) this.#reusable = false;
      if (this.#left === 0 && this.#state === 'body') this.#complete();
      return;
    }
    let at = 0;
    while (at < bytes.byteLength && this.#state === 'body') {
      if (this.#step === 'data') {
        const take = Math.min(this.#left, bytes.byteLength - at);
        this.#deliver(bytes.subarray(at, at + take), owner);
        at += take;
        this.#left -= take;
        if (this.#left === 0) this.#step = 'crlf';
        continue;
      }
      const eol = bytes.indexOf(10, at);
      this.#line += bytes.toString('latin1', at, eol < 0 ? bytes.byteLength : eol + 1);
      at = eol < 0 ? bytes.byteLength : eol + 1;
      if (this.#line.length > HEAD_LIMIT) throw malformed('chunked framing');
      if (eol < 0) continue;
      const text = this.#line.replace(/\r?\n$/, '');
      this.#line = '';
      if (this.#step === 'crlf') {
        if (text !== '') throw malformed('chunked framing');
        this.#step = 'size';
      } else if (this.#step === 'size') {
        const size = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(text);
        if (!size) throw malformed(`chunk size ${JSON.stringify(text.slice(0, 40))}`);
        this.#left = Number.parseInt(size[1]!, 16);
        this.#step = this.#left === 0 ? 'trailer' : 'data';
      } else if (text === '') {
        if (at < bytes.byteLength) this.#reusable = false;
        this.#complete();
      }
    }
  }

  read(bytes: Buffer, owner: Buffer): void {
    this.#transfer.touch();
    this.#anyByte = true;
    try {
      if (this.#state === 'head') {
        let data = this.#partial ? Buffer.concat([this.#partial, bytes]) : bytes;
        this.#partial = undefined;
        for (;;) {
          const end = data.indexOf('\r\n\r\n');
          if (end < 0) {
            if (data.byteLength > HEAD_LIMIT) throw malformed(`a head over ${HEAD_LIMIT} bytes`);
            if (data.byteLength) this.#partial = Buffer.from(data);
            return;
          }
          const final = this.#onHead(data.toString('latin1', 0, end));
          data = data.subarray(end + 4);
          if (final) break;
        }
        if (this.#framing === 'length' && this.#left === 0) {
          // Bytes after an answer without a body (or an empty one): the connection is out of step.
          if (data.byteLength) this.#reusable = false;
          this.#complete();
        } else this.#body(data, owner);
      } else if (this.#state === 'body') this.#body(bytes, owner);
    } catch (error) {
      this.#fail(error as Error);
    }
  }

  closed(error: Error | undefined): void {
    this.#stale = !this.#anyByte && this.#conn.reused && this.#state === 'head';
    if (this.#state === 'body' && this.#framing === 'close') {
      this.#reusable = false;
      this.#complete();
      return;
    }
    this.#fail(error ?? Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
  }
}
