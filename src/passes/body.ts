import type { SiteConfig } from '../config/schema.ts';
import { sealUploadLocation } from '../edge/uploads.ts';
import { smallBodyLength, type BodyPass, type Exchange, type UpstreamResponse } from '../exchange.ts';
import { FORMATS } from '../formats/index.ts';
import { readSmallBody } from '../stream/small-body.ts';
import { mapBodyUrls } from './body-urls.ts';

/**
 * A failure of the router's own making in a body pass (an upload key that is not set): answered
 * with 500 and this message. Any other error is the upstream's body failing (forward/forward.ts).
 */
export class BodyPassError extends Error {
  override name = 'BodyPassError';
}

/** Direct uploads, either half: the upload `Location` (already public) is sealed for the next step (edge/uploads.ts). */
export const sealUploads: BodyPass = (exchange, response) => {
  const seal = exchange.site.uploads;
  if (!seal || !response.headers.has('location')) return undefined;
  return sealUploadLocation(exchange, seal, response).catch((error: unknown) => {
    throw new BodyPassError(String((error as Error).message), { cause: error });
  });
};

/** npm packuments, PyPI pages: URLs into an upstream become public, in exchanges whose rule says `mapUrls` (passes/body-urls.ts). */
export const mapUrls: BodyPass = (exchange, response) => (exchange.mapUrls ? mapBodyUrls(exchange, response) : undefined);

/**
 * Manifests, tag lists, tokens, errors: a body that declares at most SMALL_BODY bytes is read
 * whole, so it goes out in one piece (one write instead of headers, then a stream pumped chunk by
 * chunk). The clients read these whole already (stream/small-body.ts, the same reader); this
 * covers a client that does not (a test's, an embedder's). More or fewer bytes than declared is
 * an upstream failure.
 */
export const readSmallBodies: BodyPass = (_exchange, response) => {
  const { body } = response;
  if (!body || body instanceof Uint8Array) return undefined;
  const length = smallBodyLength(response.headers);
  if (length === undefined) return undefined;
  return readSmallBody(body, length).then((bytes) => {
    response.body = bytes;
  });
};

/** Every body pass, in the order they run: sealing reads headers only, mapping reads the body, a small body left is read last. */
export const bodyPasses: readonly BodyPass[] = [sealUploads, mapUrls, readSmallBodies];

/**
 * The body passes a site's configuration needs: sealing where it has direct uploads (either
 * half), URL mapping where one of its rules or its format's maps URLs, and reading small bodies.
 */
export function bodyPassesFor(site: SiteConfig): readonly BodyPass[] {
  const sealing = site.directUploads !== undefined || site.uploadsFromEdge !== undefined;
  const mapping = [...site.rules, ...FORMATS[site.preset].rules].some((rule) => rule.mapUrls);
  return bodyPasses.filter((pass) => (pass === sealUploads ? sealing : pass === mapUrls ? mapping : true));
}

/**
 * Runs the passes in order on the answer; the first that throws (or rejects) stops the stage, and
 * the caller answers the error. Undefined when no pass had anything to wait for: most answers then
 * go on without an await (passes return a promise only when they do work).
 */
export function applyBody(exchange: Exchange, response: UpstreamResponse, passes: readonly BodyPass[] = bodyPasses, from = 0): Promise<void> | undefined {
  for (let i = from; i < passes.length; i++) {
    const pending = passes[i]!(exchange, response);
    if (pending) return pending.then(() => applyBody(exchange, response, passes, i + 1));
  }
  return undefined;
}
