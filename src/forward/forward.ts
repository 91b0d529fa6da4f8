import { entryFor, type AccessLog } from '../access-log.ts';
import { answerEarly, errorResponse, ownBodyBytes } from '../errors.ts';
import type { Exchange } from '../exchange.ts';
import { tallyBody } from '../passes/body-tally.ts';
import { sealUploadLocation } from '../edge/uploads.ts';
import { mapBodyUrls } from '../passes/body-urls.ts';
import { readUpTo } from '../stream/read-up-to.ts';
import { applyIncoming } from '../passes/incoming.ts';
import type { Site } from '../site/site.ts';
import { sendWithFailover } from './send.ts';
import { discardBody, smallBodyLength, UpstreamError, type UpstreamClient } from './client.ts';
import { withReasonPhrase } from './reason-phrase.ts';

/**
 * One decided exchange through its upstream: body cap, outgoing passes and the client (with
 * failover), incoming passes, then the answer, logged once its body has been delivered.
 */
export async function forward(exchange: Exchange, { client, log }: { client: UpstreamClient; log: AccessLog }): Promise<Response> {
  const { site, request } = exchange;
  // The exchange as sent: its upstream is the server that answered (see forward/send.ts).
  let sent = exchange;
  let release = () => {};
  const finish = (status: number, error?: string) => {
    release();
    // A long layer upload keeps its push session alive until it ends, not only from its start.
    if (exchange.session) exchange.session.seenAt = Date.now();
    log({ ...entryFor(sent.url, request.method, sent.startedAt, status, sent.clientAddress, sent), ...(error && { error }) });
  };

  const declared = Number(request.headers.get('content-length') ?? 0);
  if (site.maxBodySize > 0 && declared > site.maxBodySize) {
    const response = tooLarge(site);
    exchange.tally.bytesOut = ownBodyBytes(request.method, response);
    finish(413, 'body over limit');
    return answerEarly(request, response);
  }

  const outcome = await sendWithFailover(exchange, client);
  if (outcome.kind === 'refused') {
    // Answered by the router: no upstream saw it.
    log({
      ...entryFor(exchange.url, request.method, exchange.startedAt, outcome.response.status, exchange.clientAddress, exchange),
      upstream: null,
      bytesOut: ownBodyBytes(request.method, outcome.response),
      error: outcome.reason,
    });
    return answerEarly(request, outcome.response);
  }
  sent = outcome.exchange;
  if (outcome.kind === 'failed') {
    const response = failure(site, sent, outcome.error);
    // A client that went away (499) gets nothing.
    sent.tally.bytesOut = request.signal.aborted ? 0 : ownBodyBytes(request.method, response);
    finish(response.status, String((outcome.error as Error)?.message ?? outcome.error));
    return answerEarly(request, response);
  }
  release = outcome.release;

  const response = applyIncoming(sent, outcome.response);
  if (site.uploads && response.headers.has('location')) {
    try {
      await sealUploadLocation(sent, site.uploads, response);
    } catch (error) {
      discardBody(response.body);
      const failed = errorResponse(site.errorFormat, 500, 'UNAVAILABLE', String((error as Error).message));
      sent.tally.bytesOut = ownBodyBytes(request.method, failed);
      finish(500, String((error as Error).message));
      return failed;
    }
  }
  if (sent.mapUrls) {
    try {
      await mapBodyUrls(sent, response);
    } catch (error) {
      const failed = failure(site, sent, error);
      sent.tally.bytesOut = ownBodyBytes(request.method, failed);
      finish(failed.status, `response body: ${String((error as Error)?.message ?? error)}`);
      return failed;
    }
  }
  const { status } = response;
  // The upstream's reason phrase (twine prints `400 File already exists.`); adapters send it where the runtime can.
  const statusText = /^[\t\x20-\x7e\x80-\xff]*$/.test(response.statusText ?? '') ? response.statusText ?? '' : '';
  let bytes = response.body instanceof Uint8Array ? response.body : undefined;
  const small = response.body && !bytes ? smallBodyLength(response.headers) : undefined;
  if (small !== undefined) {
    // Manifests, tag lists, tokens, errors: read whole, answered in one piece (one write instead
    // of headers, then a stream pumped chunk by chunk). Bounded by the declared length.
    try {
      bytes = await readSmallBody(response.body as ReadableStream<Uint8Array>, small);
    } catch (error) {
      // The upstream broke off mid-body; nothing has reached the client yet.
      const failed = failure(site, sent, error);
      sent.tally.bytesOut = ownBodyBytes(request.method, failed);
      finish(failed.status, `response body: ${String((error as Error)?.message ?? error)}`);
      return failed;
    }
  }
  if (bytes) {
    response.watch?.end();
    sent.tally.bytesOut = bytes.byteLength;
    finish(status);
    // An empty body goes out as none: servers then add no Content-Type of their own (node-server, Bun.serve do for bytes).
    return withReasonPhrase(new Response(bytes.byteLength ? (bytes as Uint8Array<ArrayBuffer>) : null, { status, statusText, headers: response.headers }), statusText);
  }
  // Logged when the client has the whole body (or the transfer broke), not when headers went out.
  const body = response.body
    ? tallyBody(
        response.body as ReadableStream<Uint8Array>,
        (total) => {
          sent.tally.bytesOut = total;
          response.watch?.chunk();
        },
        0,
        (error) => {
          response.watch?.end();
          finish(status, error ? `response body: ${String((error as Error)?.message ?? error)}` : undefined);
        },
      )
    : null;
  if (!body) {
    response.watch?.end();
    finish(status);
  }
  return withReasonPhrase(new Response(body, { status, statusText, headers: response.headers }), statusText);
}

/** The whole body, refusing to hold more than the `length` the upstream declared. */
async function readSmallBody(body: ReadableStream<Uint8Array>, length: number): Promise<Uint8Array> {
  const read = await readUpTo(body, length);
  if (read.whole) return read.bytes;
  void read.rest.cancel().catch(() => {});
  throw new Error(`upstream sent more than its Content-Length of ${length} bytes`);
}

function tooLarge(site: Site): Response {
  // At the edge the platform caps bodies; layers past the cap go around it with directUploads.
  const hint = site.errorFormat === 'registry' && !site.uploads ? '; to push larger layers through an edge worker, give the site "directUploads"' : '';
  return errorResponse(site.errorFormat, 413, 'SIZE_INVALID', `request body is larger than this site accepts (${site.maxBodySize} bytes)${hint}`);
}

function failure(site: Site, exchange: Exchange, error: unknown): Response {
  if (exchange.tally.bodyTooLarge) return tooLarge(site);
  if (error instanceof UpstreamError) {
    const status = error.kind === 'timeout' ? 504 : 502;
    return errorResponse(site.errorFormat, status, 'UNAVAILABLE', `${exchange.role} upstream of site ${site.name}: ${error.message}`);
  }
  if (exchange.request.signal.aborted) {
    // The client is gone; nobody reads this answer.
    return errorResponse(site.errorFormat, 499 as number, 'UNAVAILABLE', 'client closed the request');
  }
  return errorResponse(site.errorFormat, 502, 'UNAVAILABLE', `forwarding to the ${exchange.role} upstream of site ${site.name} failed`);
}
