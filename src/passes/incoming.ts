import type { Exchange, IncomingPass, UpstreamResponse } from '../exchange.ts';
import { dropHopByHopHeaders } from './hop-by-hop.ts';

export const dropHopByHop: IncomingPass = (_exchange, response) => {
  dropHopByHopHeaders(response.headers);
};

/** Statuses and methods that carry no body; a HEAD keeps the origin's Content-Length. */
export const bodilessResponses: IncomingPass = (exchange, response) => {
  const { status } = response;
  if (exchange.request.method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    void response.body?.cancel().catch(() => {});
    response.body = null;
  }
};

export const incomingPasses: readonly IncomingPass[] = [dropHopByHop, bodilessResponses];

export function applyIncoming(
  exchange: Exchange,
  response: UpstreamResponse,
  passes: readonly IncomingPass[] = incomingPasses,
): UpstreamResponse {
  for (const pass of passes) pass(exchange, response);
  return response;
}
