import { entryFor, type AccessLog } from '../access-log.ts';
import { answerEarly, errorResponse, ownBodyBytes } from '../errors.ts';
import { discardBody, type BodyPass, type Exchange, type UpstreamResponse } from '../exchange.ts';
import { applyBody, bodyPasses as allBodyPasses, BodyPassError } from '../passes/body.ts';
import { tallyBody } from '../passes/body-tally.ts';
import { applyIncoming } from '../passes/incoming.ts';
import type { Site } from '../site/site.ts';
import { sendWithFailover } from './send.ts';
import { UpstreamError, type UpstreamClient } from './client.ts';
import { countOf } from './counted-body.ts';
import { nativeDeadlineMs, nativePipeOf } from './native-pipe.ts';
import { withReasonPhrase } from './reason-phrase.ts';
import { untouchedAnswer } from './settled-answer.ts';
import { responseOf } from '../header-fields.ts';

/**
 * One decided exchange through its upstream: body cap, outgoing passes and the client (with
 * failover), incoming passes, the body passes (`bodyPasses`: the site's, passes/body.ts), then the
 * answer, logged once its body has been delivered. Not async: the answer is one promise hop after
 * the client's when no body pass waits (most answers); what fails is a rejection all the same.
 */
export function forward(
  exchange: Exchange,
  { client, log, bodyPasses = allBodyPasses }: { client: UpstreamClient; log: AccessLog; bodyPasses?: readonly BodyPass[] | undefined },
): Promise<Response> {
  const { site, request } = exchange;
  // The exchange as sent: its upstream is the server that answered (see forward/send.ts).
  let sent = exchange;
  let release = () => {};
  const finish = (status: number, error?: string) => {
    release();
    // A long layer upload keeps its push session alive until it ends, not only from its start.
    if (exchange.session) exchange.session.seenAt = Date.now();
    // One object per line (no spread copy): `error` last, as before.
    const entry = entryFor(sent.url, request.method, sent.startedAt, status, sent.clientAddress, sent);
    if (error) entry.error = error;
    log(entry);
  };
  /**
   * The one way out when the exchange fails after it was decided: `response` instead of an
   * answer, logged with `error`. `early`: the request's body is not read (the connection closes).
   */
  const fail = (response: Response, error: string, early: boolean): Response => {
    // A client that went away (499) gets nothing.
    sent.tally.bytesOut = request.signal.aborted ? 0 : ownBodyBytes(request.method, response);
    finish(response.status, error);
    return early ? answerEarly(request, response) : response;
  };

  const declared = Number(request.headers.get('content-length') ?? 0);
  if (site.maxBodySize > 0 && declared > site.maxBodySize) return Promise.resolve(fail(tooLarge(site), 'body over limit', true));

  /** The body passes failed (`error`): the upstream's body is dropped, the failure answered. */
  const bodyFailed = (response: UpstreamResponse, error: unknown): Response => {
    discardBody(response.body);
    // The router's own failure (an upload key not set) names itself; else the upstream's body failed.
    if (error instanceof BodyPassError) return fail(errorResponse(site.errorFormat, 500, 'UNAVAILABLE', error.message), error.message, false);
    return fail(failure(site, sent, error), `response body: ${errorText(error)}`, false);
  };
  return sendWithFailover(exchange, client).then((outcome): Response | Promise<Response> => {
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
    if (outcome.kind === 'failed') return fail(failure(site, sent, outcome.error), errorText(outcome.error), true);
    release = outcome.release;

    const response = applyIncoming(sent, outcome.response);
    let pending: Promise<void> | undefined;
    try {
      pending = applyBody(sent, response, bodyPasses);
    } catch (error) {
      return bodyFailed(response, error);
    }
    if (pending)
      return pending.then(
        () => deliver(response),
        (error: unknown) => bodyFailed(response, error),
      );
    return deliver(response);
  });

  /** The answer as it goes out, its access-log line written now or once its body has gone. */
  function deliver(response: UpstreamResponse): Response {
    const { status } = response;
    // The upstream's reason phrase (twine prints `400 File already exists.`); adapters send it where the runtime can.
    const statusText = sendablePhrase(response.statusText);
    // Read whole by the client or a body pass: answered in one piece.
    const bytes = response.body instanceof Uint8Array ? response.body : undefined;
    if (bytes) {
      response.watch?.end();
      sent.tally.bytesOut = bytes.byteLength;
      finish(status);
      // Left as it came (Bun): the runtime's own answer goes out, with no copy of its fields.
      const untouched = bytes.byteLength ? untouchedAnswer(response, statusText) : undefined;
      if (untouched) return withReasonPhrase(untouched, statusText);
      // An empty body goes out as none: servers then add no Content-Type of their own (node-server, Bun.serve do for bytes).
      const whole = bytes.byteLength ? (bytes as Uint8Array<ArrayBuffer>) : null;
      return withReasonPhrase(responseOf(whole, status, statusText, response.headers), statusText);
    }
    const native = response.body && response.watch?.deadline ? nativeLength(request, response.headers) : undefined;
    if (native !== undefined) {
      // Untouched, so the runtime pipes it natively (forward/native-pipe.ts): the declared length is
      // what goes out (logged now), a stalled upstream is cut by the deadline.
      const pipe = nativePipeOf(request)!;
      pipe.deadlineMs = nativeDeadlineMs(native, pipe);
      response.watch!.deadline!(pipe.deadlineMs);
      sent.tally.bytesOut = native;
      finish(status);
      return withReasonPhrase(responseOf(response.body as ReadableStream<Uint8Array>, status, statusText, response.headers), statusText);
    }
    // Logged when the client has the whole body (or the transfer broke), not when headers went out.
    const count = countOf(response.body);
    if (count) {
      // Counted by the client itself (forward/counted-body.ts): passed on as it is, the tally following the count.
      count.follow(sent.tally);
      count.whenEnded((error) => {
        sent.tally.bytesOut = count.bytes;
        response.watch?.end();
        finish(status, error ? `response body: ${errorText(error)}` : undefined);
      });
      return withReasonPhrase(responseOf(response.body as ReadableStream<Uint8Array>, status, statusText, response.headers), statusText);
    }
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
            finish(status, error ? `response body: ${errorText(error)}` : undefined);
          },
        )
      : null;
    if (!body) {
      response.watch?.end();
      finish(status);
      const untouched = untouchedAnswer(response, statusText);
      if (untouched) return withReasonPhrase(untouched, statusText);
    }
    return withReasonPhrase(responseOf(body, status, statusText, response.headers), statusText);
  }
}

/** The declared length of an answer the runtime should pipe natively (`nativePipe.minSize` or more, on a server that does), else `undefined`. */
function nativeLength(request: Request, headers: Headers): number | undefined {
  const pipe = nativePipeOf(request);
  if (!pipe) return undefined;
  const declared = headers.get('content-length');
  if (declared === null || !/^\d+$/.test(declared)) return undefined;
  const length = Number(declared);
  return length >= pipe.minSize ? length : undefined;
}

/** The last phrase sendablePhrase let through: answers mostly carry the same few ("OK"), checked once then. */
let lastSendable = '';

/** `phrase` when a status line can carry it (tab, printable ASCII, obs-text: RFC 9112 §4), else ''. */
function sendablePhrase(phrase: string | undefined): string {
  if (!phrase) return '';
  if (phrase === lastSendable) return phrase;
  if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(phrase)) return '';
  lastSendable = phrase;
  return phrase;
}

const errorText = (error: unknown): string => String((error as Error)?.message ?? error);

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
