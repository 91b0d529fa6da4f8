/**
 * Raw Distribution API helpers that stream big blobs without holding them in
 * memory. Content is deterministic pseudo-random bytes (AES-CTR keystream of
 * sha256(seed), generated 1 MiB at a time), so a test can predict the digest
 * of `size` bytes from `seed` without storing them (see blobDigest()).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { MiB, randomChunks, randomDigest } from './random.ts';

export const DEFAULT_BLOB_SEED = 'blob';

/** Accept header listing every single-image and index manifest type. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export interface StreamOptions {
  /** Generation chunk size, default 1 MiB. */
  chunkSize?: number;
  /** Called after each chunk is handed to the HTTP body with the running total. */
  onProgress?: (bytesSent: number) => void;
}

/**
 * A Readable of `size` deterministic bytes for `seed` (same bytes as
 * uploadBlob with that seed). Exported so a test can drive its own upload,
 * e.g. abort it midway.
 */
export function blobStream(size: number, seed: string = DEFAULT_BLOB_SEED, opts: StreamOptions = {}): Readable {
  return Readable.from(progressChunks(size, seed, opts, undefined), { objectMode: false });
}

async function* progressChunks(size: number, seed: string, opts: StreamOptions, hash: ReturnType<typeof createHash> | undefined): AsyncGenerator<Buffer> {
  let sent = 0;
  for await (const chunk of randomChunks(size, seed, opts.chunkSize ?? MiB)) {
    hash?.update(chunk);
    sent += chunk.length;
    yield chunk;
    opts.onProgress?.(sent);
  }
}

/** Digest ("sha256:...") of the blob uploadBlob/blobStream produce for (size, seed). */
export function blobDigest(size: number, seed: string = DEFAULT_BLOB_SEED): Promise<string> {
  return randomDigest(size, seed);
}

function apiUrl(baseUrl: string, pathname: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${pathname}`;
}

function headerValue(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

async function bodyText(body: Dispatcher.ResponseData['body']): Promise<string> {
  try {
    return (await body.text()).slice(0, 2000);
  } catch {
    return '';
  }
}

export class RegistryHttpError extends Error {
  constructor(
    readonly step: string,
    readonly status: number,
    readonly body: string,
    readonly headers: Record<string, string | string[] | undefined>,
  ) {
    super(`${step}: HTTP ${status} ${body}`);
    this.name = 'RegistryHttpError';
  }
}

export interface UploadOptions extends StreamOptions {
  /** Added to every request (e.g. Authorization). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Content seed (default "blob"). */
  seed?: string;
}

export interface UploadResult {
  digest: string;
  bytes: number;
  /** Location header of the final PUT, resolved against baseUrl. */
  location: string;
}

/**
 * POST /v2/<repo>/blobs/uploads/ → one streamed PATCH (chunked transfer
 * encoding, sha256 computed while sending) → PUT <location>&digest=...
 * Location headers may be absolute (used as given, as a client would) or
 * relative (resolved against baseUrl).
 */
export async function uploadBlob(baseUrl: string, repo: string, size: number, opts: UploadOptions = {}): Promise<UploadResult> {
  const headers = opts.headers ?? {};
  const signal = opts.signal;

  const post = await request(apiUrl(baseUrl, `/v2/${repo}/blobs/uploads/`), {
    method: 'POST',
    headers: { ...headers, 'content-length': '0' },
    signal,
  });
  if (post.statusCode !== 202) {
    throw new RegistryHttpError('upload POST', post.statusCode, await bodyText(post.body), post.headers);
  }
  await post.body.dump();
  const loc1 = headerValue(post.headers, 'location');
  if (!loc1) throw new Error('upload POST: no Location header');
  const patchUrl = new URL(loc1, baseUrl);

  const hash = createHash('sha256');
  const body = Readable.from(progressChunks(size, opts.seed ?? DEFAULT_BLOB_SEED, opts, hash), { objectMode: false });
  const patch = await request(patchUrl, {
    method: 'PATCH',
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    body,
    signal,
  });
  if (patch.statusCode !== 202) {
    throw new RegistryHttpError('upload PATCH', patch.statusCode, await bodyText(patch.body), patch.headers);
  }
  await patch.body.dump();
  const digest = `sha256:${hash.digest('hex')}`;
  const loc2 = headerValue(patch.headers, 'location');
  if (!loc2) throw new Error('upload PATCH: no Location header');
  const putUrl = new URL(loc2, baseUrl);
  putUrl.searchParams.set('digest', digest);

  const put = await request(putUrl, {
    method: 'PUT',
    headers: { ...headers, 'content-length': '0' },
    signal,
  });
  if (put.statusCode !== 201) {
    throw new RegistryHttpError('upload PUT', put.statusCode, await bodyText(put.body), put.headers);
  }
  await put.body.dump();
  const got = headerValue(put.headers, 'docker-content-digest');
  if (got && got !== digest) throw new Error(`upload PUT: registry says ${got}, we sent ${digest}`);
  const loc3 = headerValue(put.headers, 'location');
  return { digest, bytes: size, location: loc3 ? new URL(loc3, baseUrl).toString() : '' };
}

export interface DownloadOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Redirects to follow (default 5). */
  maxRedirects?: number;
}

export interface DownloadResult {
  status: number;
  /** Hex sha256 of the body received. */
  sha256: string;
  /** "sha256:<hex>", comparable with digests. */
  digest: string;
  bytes: number;
  headers: Record<string, string | string[] | undefined>;
}

/** GET /v2/<repo>/blobs/<digest>, hashing the body while streaming it. */
export async function downloadBlob(baseUrl: string, repo: string, digest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  let url = new URL(apiUrl(baseUrl, `/v2/${repo}/blobs/${digest}`));
  for (let hop = 0; ; hop++) {
    const res = await request(url, { method: 'GET', headers: opts.headers ?? {}, signal: opts.signal });
    const loc = headerValue(res.headers, 'location');
    if (res.statusCode >= 300 && res.statusCode < 400 && loc && hop < (opts.maxRedirects ?? 5)) {
      await res.body.dump();
      url = new URL(loc, url);
      continue;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res.body) {
      const b = chunk as Buffer;
      hash.update(b);
      bytes += b.length;
    }
    const hex = hash.digest('hex');
    return { status: res.statusCode, sha256: hex, digest: `sha256:${hex}`, bytes, headers: res.headers };
  }
}

export interface HeadResult {
  status: number;
  /** Docker-Content-Digest header, if any. */
  digest: string | undefined;
  contentType: string | undefined;
  contentLength: number | undefined;
  headers: Record<string, string | string[] | undefined>;
}

async function head(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<HeadResult> {
  const res = await request(url, { method: 'HEAD', headers, signal });
  await res.body.dump();
  const len = headerValue(res.headers, 'content-length');
  return {
    status: res.statusCode,
    digest: headerValue(res.headers, 'docker-content-digest'),
    contentType: headerValue(res.headers, 'content-type'),
    contentLength: len === undefined ? undefined : Number(len),
    headers: res.headers,
  };
}

/**
 * HEAD /v2/<name>/manifests/<reference> with an Accept header covering OCI and
 * Docker manifests (Distribution 2.8 answers 404 for an OCI manifest if the
 * Accept header does not list the OCI type).
 */
export function headManifest(
  baseUrl: string,
  name: string,
  reference: string,
  opts: { headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<HeadResult> {
  return head(apiUrl(baseUrl, `/v2/${name}/manifests/${reference}`), { accept: MANIFEST_ACCEPT, ...opts.headers }, opts.signal);
}

/** HEAD /v2/<name>/blobs/<digest>. */
export function headBlob(
  baseUrl: string,
  name: string,
  digest: string,
  opts: { headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<HeadResult> {
  return head(apiUrl(baseUrl, `/v2/${name}/blobs/${digest}`), opts.headers ?? {}, opts.signal);
}

/** GET /v2/<name>/manifests/<reference>; returns the raw bytes and headers. */
export async function getManifest(
  baseUrl: string,
  name: string,
  reference: string,
  opts: { headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<{ status: number; body: Buffer; digest: string | undefined; contentType: string | undefined }> {
  const res = await request(apiUrl(baseUrl, `/v2/${name}/manifests/${reference}`), {
    method: 'GET',
    headers: { accept: MANIFEST_ACCEPT, ...opts.headers },
    signal: opts.signal,
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  return {
    status: res.statusCode,
    body,
    digest: headerValue(res.headers, 'docker-content-digest'),
    contentType: headerValue(res.headers, 'content-type'),
  };
}

/** "Basic base64(user:password)". */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
