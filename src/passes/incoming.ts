import { discardBody, type Exchange, type IncomingPass, type UpstreamResponse } from '../exchange.ts';
import { dropHopByHopHeaders } from './hop-by-hop.ts';
import { toPublicUrl } from './public-url.ts';

export const dropHopByHop: IncomingPass = (_exchange, response) => {
  dropHopByHopHeaders(response.headers);
};

/** Statuses and methods that carry no body; a HEAD keeps the origin's Content-Length. */
export const bodilessResponses: IncomingPass = (exchange, response) => {
  const { status } = response;
  if (exchange.request.method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    discardBody(response.body);
    response.watch?.end();
    response.body = null;
  }
};

const LOCATION_FIELDS = ['location', 'content-location'] as const;

/** Upload sessions and redirects must lead the client back through the router, under the name it used. */
export const rewriteLocation: IncomingPass = (exchange, response) => {
  for (const name of LOCATION_FIELDS) {
    const value = response.headers.get(name);
    const mapped = value === null ? undefined : toPublicUrl(exchange, value);
    if (mapped !== undefined) response.headers.set(name, mapped);
  }
};

/**
 * `Bearer realm="http://nexus:8081/…/v2/token",service="…"`: a URL parameter naming an upstream
 * becomes the public one, so the token request comes through the router too. Basic challenges
 * carry no URLs and pass as they are.
 */
export const rewriteAuthenticate: IncomingPass = (exchange, response) => {
  const value = response.headers.get('www-authenticate');
  if (!value) return;
  const rewritten = value.replace(/(\w+)="([^"]*)"/g, (param, name: string, url: string) => {
    const mapped = toPublicUrl(exchange, url);
    return mapped === undefined || !/^https?:\/\//i.test(url) ? param : `${name}="${mapped}"`;
  });
  if (rewritten !== value) response.headers.set('www-authenticate', rewritten);
};

export const incomingPasses: readonly IncomingPass[] = [dropHopByHop, bodilessResponses, rewriteLocation, rewriteAuthenticate];

export function applyIncoming(exchange: Exchange, response: UpstreamResponse, passes: readonly IncomingPass[] = incomingPasses): UpstreamResponse {
  for (const pass of passes) pass(exchange, response);
  // The length the client will get, for the status page's progress (a mapped body's length changes; a HEAD's is no body).
  const length = response.body === null || exchange.mapUrls ? null : response.headers.get('content-length');
  if (length !== null && /^\d+$/.test(length)) exchange.tally.answerLength = Number(length);
  return response;
}
