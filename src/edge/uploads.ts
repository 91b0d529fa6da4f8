import type { DirectUploadsConfig, UploadsFromEdgeConfig } from '../config/edge.ts';
import type { Exchange, UpstreamResponse } from '../exchange.ts';
import { CAPABILITY_PARAM, openCapability, sealCapability, uploadKey } from './capability.ts';

/**
 * Direct uploads, both halves (README "At the edge"). On the edge (`directUploads`), the upload
 * `Location` a push gets back points at the upload name with a capability; on the origin side
 * (`uploadsFromEdge`), a request is let through only with a capability that opens, is for its path
 * and has not expired, and its answer's `Location` is sealed again for the next step.
 */
export interface UploadSeal {
  readonly side: 'edge' | 'origin';
  /** Edge: the upload name's origin (`https://upload.registry.example.com`); origin side: its own public origin. */
  readonly base: string | undefined;
  /** Seconds a sealed Location stays good. */
  readonly ttl: number;
  /** The shared key; rejects with a message naming the variable when it is not set. */
  key(): Promise<CryptoKey>;
}

/** The site's seal, or undefined when it uses neither half. `secret` reads the environment (worker secrets, process env). */
export function uploadSealFor(
  config: { directUploads?: DirectUploadsConfig; uploadsFromEdge?: UploadsFromEdgeConfig },
  secret: (name: string) => string | undefined,
): UploadSeal | undefined {
  const half = config.directUploads ?? config.uploadsFromEdge;
  if (!half) return undefined;
  let key: Promise<CryptoKey> | undefined;
  return {
    side: config.directUploads ? 'edge' : 'origin',
    base: config.directUploads?.url.replace(/\/+$/, ''),
    ttl: config.directUploads?.ttl ?? 3600,
    key() {
      const value = secret(half.keyEnv);
      if (!value)
        return Promise.reject(
          new Error(
            `the upload key is not set: put the shared secret in ${half.keyEnv} (wrangler secret put ${half.keyEnv}, or the environment of the router)`,
          ),
        );
      return (key ??= uploadKey(value));
    },
  };
}

/** An upload in progress: `/v2/<name>/blobs/uploads/<id>` (not the POST that starts one). */
const UPLOAD_PATH = /^\/v2\/.+\/blobs\/uploads\/[^/]+$/;

export type OpenedUpload = { url: URL; authorization: string | null } | { status: 401 | 403; message: string };

/**
 * The origin side's gate: the request's URL without the capability and the client's restored
 * `Authorization`, or why not (403: not an upload sealed by the edge at all; 401: a capability
 * that is altered, expired, or for another path).
 */
export async function openUploadRequest(seal: UploadSeal, method: string, url: URL, now = Date.now()): Promise<OpenedUpload> {
  const token = url.searchParams.get(CAPABILITY_PARAM);
  if (token === null || !UPLOAD_PATH.test(url.pathname) || !['PATCH', 'PUT', 'GET', 'HEAD', 'DELETE'].includes(method)) {
    return {
      status: 403,
      message: 'this name takes only blob uploads handed out by the edge (a sealed upload Location); pull and push through the registry name',
    };
  }
  const capability = await openCapability(await seal.key(), token);
  if (!capability) return { status: 401, message: 'the upload capability does not open: it was altered, or sealed with another key' };
  if (capability.path !== url.pathname) return { status: 401, message: 'the upload capability is for another upload' };
  if (capability.expires * 1000 < now) return { status: 401, message: 'the upload capability has expired: push again' };
  const clean = new URL(url);
  clean.search = withoutCapability(url.search);
  return { url: clean, authorization: capability.authorization };
}

/**
 * Seals the `Location` of an upload step (already mapped to the public name by the incoming
 * passes) for the next request: on the edge it then names the upload host, on the origin side its
 * own public origin. The client's credentials go into the capability, never into the URL as such.
 */
export async function sealUploadLocation(exchange: Exchange, seal: UploadSeal, response: UpstreamResponse, now = Date.now()): Promise<void> {
  const location = response.headers.get('location');
  if (!location) return;
  let target: URL;
  try {
    target = new URL(location, exchange.url);
  } catch {
    return;
  }
  if (!UPLOAD_PATH.test(target.pathname)) return;
  const authorization = exchange.restoredAuthorization !== undefined ? exchange.restoredAuthorization : exchange.request.headers.get('authorization');
  const token = await sealCapability(await seal.key(), { authorization, path: target.pathname, expires: Math.floor(now / 1000) + seal.ttl });
  const search = withoutCapability(target.search);
  const base = seal.base ?? `${exchange.url.protocol}//${exchange.url.host}`;
  response.headers.set('location', `${base}${target.pathname}${search ? `${search}&` : '?'}${CAPABILITY_PARAM}=${token}`);
}

/** The raw query (`?a=1&rr_upload=…&b=2`) without the capability, every other byte kept. */
function withoutCapability(search: string): string {
  const kept = search
    .replace(/^\?/, '')
    .split('&')
    .filter((pair) => pair !== '' && !pair.startsWith(`${CAPABILITY_PARAM}=`));
  return kept.length ? `?${kept.join('&')}` : '';
}
