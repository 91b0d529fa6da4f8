import { connect, type Socket } from 'node:net';
import type { BodyCount, NodeSink } from './counted-body.ts';
import { countBody } from './counted-body.ts';
import { IdleSweep, type Transfer } from './idle.ts';
import { streamed } from './scavenge.ts';
import { SmallBody } from '../stream/small-body.ts';
import { upstreamError } from './upstream-error.ts';
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
interface Exchange {
  read(bytes: Buffer, owner: Buffer): void;
  closed(error: Error | undefined): void;
}

/** One upstream connection: reads go through `onread` into its own or pooled buffers; `paused` is the read callback's answer. */
class Connection {
  readonly socket: Socket;
  readonly head = Buffer.allocUnsafeSlow(HEAD_BUFFER);
  exchange: Exchange | undefined;
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
  const cutIdle = (expired: Transfer) => expired.cut?.(new Error(`no byte moved for ${timeouts.idle} s (timeouts.idle)`));
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
  const { signal } = outgoing;
  const bodiless = outgoing.method === 'HEAD';
  return new Promise<UpstreamResponse>((resolve, reject) => {
    let state: 'head' | 'body' | 'done' = 'head';
    let settled = false;
    let partial: Buffer | undefined;
    let anyByte = false;
    // A reused connection that closed before any byte of the answer (the upstream dropped it meanwhile).
    let stale = false;
    // HEAD, 204, 304: no body (null, not empty bytes).
    let none = false;
    let reusable = true;
    // Framing: bytes left of the Content-Length or of the current chunk; chunked: the parser's step and its line so far.
    let framing: 'length' | 'chunked' | 'close' = 'length';
    let left = 0;
    let step: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
    let line = '';
    // Where the body goes: read whole, held until its consumer comes, a web stream, or piped.
    let consumer: 'small' | 'hold' | 'web' | 'pipe' = 'hold';
    let small: { response: UpstreamResponse; body: SmallBody } | undefined;
    let held: Buffer[] = [];
    let heldEnd: { error?: Error } | undefined;
    let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
    let count: BodyCount | undefined;
    let out: (NodeSink & { write(chunk: Uint8Array, callback: () => void): boolean }) | undefined;

    const fail = (error: Error) => {
      if (state === 'done') return;
      state = 'done';
      signal.removeEventListener('abort', onAbort);
      transfer.end();
      done(false);
      if (!settled) {
        settled = true;
        if (stale) return reject(new Stale('a reused connection closed', { cause: error }));
        return reject(small ? small.body.brokeOff(error) : error);
      }
      count?.end(error);
      if (consumer === 'hold') heldEnd = { error };
      else if (consumer === 'pipe' && !out!.destroyed) out!.destroy(error);
      else if (consumer === 'web') {
        try {
          stream!.error(error);
        } catch {
          // Cancelled by its reader already.
        }
      }
    };
    const onAbort = () => fail(signal.reason instanceof Error ? signal.reason : new Error('the client went away'));
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    transfer.cut = fail;

    const complete = () => {
      state = 'done';
      signal.removeEventListener('abort', onAbort);
      transfer.end();
      conn.paused = false;
      conn.big = false;
      done(reusable);
      if (consumer === 'small') {
        settled = true;
        try {
          small!.response.body = none ? null : small!.body.bytes();
          resolve(small!.response);
        } catch (error) {
          reject(error);
        }
      } else if (consumer === 'hold') heldEnd = {};
      else if (consumer === 'web') {
        stream!.close();
        count!.end();
      } else {
        out!.on('finish', () => count!.end());
        out!.end();
      }
    };
    const deliver = (bytes: Buffer, owner: Buffer) => {
      if (bytes.byteLength === 0) return;
      if (consumer === 'small') {
        const over = small!.body.add(Buffer.from(bytes));
        if (over) fail(over);
        return;
      }
      count!.bytes += bytes.byteLength;
      if (consumer === 'pipe') {
        if (out!.destroyed) return;
        // A slice of the connection's own buffer is copied (its next read overwrites it); a pooled buffer waits for the write.
        if (owner === conn.head) out!.write(Buffer.from(bytes), () => transfer.touch());
        else {
          writing.set(owner, (writing.get(owner) ?? 0) + 1);
          out!.write(bytes, () => afterWrite(owner));
        }
        if (out!.writableLength >= PIPE_HIGH) conn.paused = true;
        return;
      }
      streamed(bytes.byteLength);
      if (consumer === 'hold') {
        held.push(Buffer.from(bytes));
        conn.paused = true;
      } else {
        stream!.enqueue(Buffer.from(bytes));
        if ((stream!.desiredSize ?? 0) <= -WEB_AHEAD) conn.paused = true;
      }
    };
    const afterWrite = (owner: Buffer) => {
      written(owner);
      // The client reading is progress too (a slow client, not a stalled upstream).
      transfer.touch();
      if (state === 'body' && out!.writableLength < PIPE_HIGH) conn.resume();
    };

    const onHead = (head: string): boolean => {
      const lines = head.split('\r\n');
      const status = /^HTTP\/1\.([01]) ([1-5]\d\d)(?: ([^\r\n]*))?$/.exec(lines[0]!);
      if (!status) throw malformed(`status line ${JSON.stringify(lines[0]!.slice(0, 40))}`);
      const code = Number(status[2]);
      if (code === 101) throw malformed('101 Switching Protocols, which was not asked for');
      if (code < 200) return false;
      // Checked here once (a token, a colon, no NUL; CR and LF cannot be left after the split), then taken as read.
      const raw: string[] = [];
      for (let i = 1; i < lines.length; i++) {
        const field = lines[i]!;
        const colon = field.indexOf(':');
        const name = field.slice(0, colon);
        if (colon <= 0 || !FIELD_NAME.test(name) || field.includes('\0')) throw malformed(`header line ${JSON.stringify(field.slice(0, 40))}`);
        raw.push(name, field.slice(colon + 1).trim());
      }
      const headers = HeaderFields.fromRaw(raw);
      const response: UpstreamResponse = { status: code, statusText: status[3] ?? '', headers, body: null };
      const connection = headers.get('connection')?.toLowerCase() ?? '';
      reusable = status[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
      state = 'body';
      if (bodiless || code === 204 || code === 304) {
        consumer = 'small';
        none = true;
        small = { response, body: new SmallBody(0) };
        return true;
      }
      const coding = headers.get('transfer-encoding');
      const declared = headers.get('content-length');
      if (coding !== null) {
        framing = /(^|,)\s*chunked\s*$/i.test(coding) ? 'chunked' : 'close';
        if (declared !== null || framing === 'close') reusable = false;
      } else if (declared !== null && /^\d{1,15}$/.test(declared)) {
        left = Number(declared);
      } else if (declared !== null) {
        // Repeated (`5, 5`): one value, or refused.
        const values = new Set(declared.split(',').map((value) => value.trim()));
        if (values.size !== 1 || !/^\d{1,15}$/.test([...values][0]!)) throw malformed(`Content-Length ${declared}`);
        left = Number([...values][0]);
      } else {
        framing = 'close';
        reusable = false;
      }
      const length = framing === 'length' ? smallBodyLength(headers) : undefined;
      if (length !== undefined) {
        consumer = 'small';
        small = { response, body: new SmallBody(length) };
        return true;
      }
      response.body = new ReadableStream<Uint8Array>(
        {
          start: (controller) => void (stream = controller),
          pull() {
            transfer.touch();
            if (consumer === 'hold') toWeb();
            // Only while this answer still owns the connection (once done, it may carry another request).
            else if (state === 'body') conn.resume();
          },
          cancel: (reason) => fail(reason instanceof Error ? reason : new Error('the reader cancelled the body')),
        },
        { highWaterMark: 0 },
      );
      count = countBody(response.body, signal);
      count.pipe = pipeTo;
      settled = true;
      resolve(response);
      return true;
    };
    /** The first read of the body: the held bytes, then reading on. */
    const toWeb = () => {
      consumer = 'web';
      for (const bytes of held) stream!.enqueue(bytes);
      held = [];
      if (heldEnd?.error) stream!.error(heldEnd.error);
      else if (heldEnd) stream!.close();
      else conn.resume();
      if (heldEnd && !heldEnd.error) count!.end();
    };
    function pipeTo(sink: NodeSink): void {
      if (consumer !== 'hold') throw new Error('the answer is read already');
      consumer = 'pipe';
      out = sink as typeof out;
      sink.on('close', () => {
        if (sink.writableFinished) return;
        const reason = new Error('the client went away');
        fail(reason);
        count!.end(reason);
      });
      for (const bytes of held) sink.write(bytes);
      held = [];
      if (heldEnd?.error) return void sink.destroy(heldEnd.error);
      if (heldEnd) {
        sink.on('finish', () => count!.end());
        return void sink.end();
      }
      conn.big = true;
      conn.resume();
    }

    /** Body bytes, framed. */
    const body = (bytes: Buffer, owner: Buffer) => {
      if (framing === 'close') return deliver(bytes, owner);
      if (framing === 'length') {
        const take = Math.min(left, bytes.byteLength);
        deliver(bytes.subarray(0, take), owner);
        left -= take;
        if (bytes.byteLength > take) reusable = false;
        if (left === 0 && state === 'body') complete();
        return;
      }
      let at = 0;
      while (at < bytes.byteLength && state === 'body') {
        if (step === 'data') {
          const take = Math.min(left, bytes.byteLength - at);
          deliver(bytes.subarray(at, at + take), owner);
          at += take;
          left -= take;
          if (left === 0) step = 'crlf';
          continue;
        }
        const eol = bytes.indexOf(10, at);
        line += bytes.toString('latin1', at, eol < 0 ? bytes.byteLength : eol + 1);
        at = eol < 0 ? bytes.byteLength : eol + 1;
        if (line.length > HEAD_LIMIT) throw malformed('chunked framing');
        if (eol < 0) continue;
        const text = line.replace(/\r?\n$/, '');
        line = '';
        if (step === 'crlf') {
          if (text !== '') throw malformed('chunked framing');
          step = 'size';
        } else if (step === 'size') {
          const size = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(text);
          if (!size) throw malformed(`chunk size ${JSON.stringify(text.slice(0, 40))}`);
          left = Number.parseInt(size[1]!, 16);
          step = left === 0 ? 'trailer' : 'data';
        } else if (text === '') {
          if (at < bytes.byteLength) reusable = false;
          complete();
        }
      }
    };

    conn.exchange = {
      read(bytes, owner) {
        transfer.touch();
        anyByte = true;
        try {
          if (state === 'head') {
            let data = partial ? Buffer.concat([partial, bytes]) : bytes;
            partial = undefined;
            for (;;) {
              const end = data.indexOf('\r\n\r\n');
              if (end < 0) {
                if (data.byteLength > HEAD_LIMIT) throw malformed(`a head over ${HEAD_LIMIT} bytes`);
                if (data.byteLength) partial = Buffer.from(data);
                return;
              }
              const final = onHead(data.toString('latin1', 0, end));
              data = data.subarray(end + 4);
              if (final) break;
            }
            if (framing === 'length' && left === 0) {
              // Bytes after an answer without a body (or an empty one): the connection is out of step.
              if (data.byteLength) reusable = false;
              complete();
            } else body(data, owner);
          } else if (state === 'body') body(bytes, owner);
        } catch (error) {
          fail(error as Error);
        }
      },
      closed(error) {
        stale = !anyByte && conn.reused && state === 'head';
        if (state === 'body' && framing === 'close') {
          reusable = false;
          return complete();
        }
        fail(error ?? Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
      },
    };

    // The request in one write; the router's passes set Host.
    let text = `${outgoing.method} ${target} HTTP/1.1\r\n`;
    if (!outgoing.headers.has('host')) text += `host: ${host}\r\n`;
    outgoing.headers.forEach((value, name) => (text += `${name}: ${value}\r\n`));
    conn.socket.write(`${text}\r\n`, 'latin1');
  });
}
