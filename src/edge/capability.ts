/**
 * Upload capabilities: what lets a docker client send an upload's PATCH/PUT straight to the origin
 * side while its credentials stay with it. The edge seals the client's `Authorization` together
 * with the upload's path and an expiry (AES-256-GCM, WebCrypto: the same code on workerd, Node, Bun
 * and Deno), and puts the result into the upload `Location` it hands back; the origin-side router
 * opens it, checks path and expiry, and restores `Authorization`. GCM's tag makes any change to the
 * token fail to open; the path inside binds it to one upload of one repository.
 *
 * Token format (query parameter `CAPABILITY_PARAM`): base64url of a 12-byte random IV followed by
 * the ciphertext of `{"a": authorization | null, "p": path, "e": expiry in epoch seconds}`.
 */

/** The query parameter that carries the capability in an upload URL. */
export const CAPABILITY_PARAM = 'rr_upload';

export interface Capability {
  /** The client's `Authorization` header value, or null when it sent none. */
  readonly authorization: string | null;
  /** The upload path the capability is good for, e.g. `/v2/team/app/blobs/uploads/6f0e…`. */
  readonly path: string;
  /** Expiry, in seconds since the epoch. */
  readonly expires: number;
}

/**
 * The AES-GCM key for `secret` (any string, e.g. from `wrangler secret put UPLOAD_KEY`): its
 * SHA-256 is the 256-bit key, so both sides only need to share the secret's text.
 */
export async function uploadKey(secret: string): Promise<CryptoKey> {
  const raw = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(secret));
  return crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

/** Seals `capability` into a URL-safe token. */
export async function sealCapability(key: CryptoKey, capability: Capability): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = new TextEncoder().encode(JSON.stringify({ a: capability.authorization, p: capability.path, e: capability.expires }));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, plain));
  const token = new Uint8Array(iv.byteLength + sealed.byteLength);
  token.set(iv);
  token.set(sealed, iv.byteLength);
  return base64url(token);
}

/** The capability inside `token`, or undefined when it does not open (altered, another key, garbage). Expiry is the caller's check. */
export async function openCapability(key: CryptoKey, token: string): Promise<Capability | undefined> {
  const bytes = fromBase64url(token);
  if (!bytes || bytes.byteLength < 12 + 16) return undefined;
  try {
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: bytes.subarray(0, 12) }, key, bytes.subarray(12));
    const data = JSON.parse(new TextDecoder().decode(plain)) as { a: unknown; p: unknown; e: unknown };
    if ((data.a !== null && typeof data.a !== 'string') || typeof data.p !== 'string' || typeof data.e !== 'number') return undefined;
    return { authorization: data.a, path: data.p, expires: data.e };
  } catch {
    return undefined;
  }
}

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    return Uint8Array.from(binary, (char) => char.charCodeAt(0));
  } catch {
    return undefined;
  }
}
