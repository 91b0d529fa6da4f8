import { describe, expect, it } from 'vitest';
import { CAPABILITY_PARAM, openCapability, sealCapability, uploadKey } from '../../src/edge/capability.ts';
import { openUploadRequest, sealUploadLocation, uploadSealFor } from '../../src/edge/uploads.ts';
import { makeExchange } from '../support/exchange.ts';

const PATH = '/v2/team/app/blobs/uploads/6f0e8a2c-1b2d-4e5f-9a8b-7c6d5e4f3a2b';

describe('upload capabilities', () => {
  it('seal and open round-trip; another key, a flipped bit or garbage do not open', async () => {
    const key = await uploadKey('secret-one');
    const token = await sealCapability(key, { authorization: 'Basic YWxpY2U6eA==', path: PATH, expires: 2_000_000_000 });
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(await openCapability(key, token)).toEqual({ authorization: 'Basic YWxpY2U6eA==', path: PATH, expires: 2_000_000_000 });
    expect(await openCapability(await uploadKey('secret-two'), token)).toBeUndefined();
    for (let i = 0; i < token.length; i += 7) {
      const flipped = `${token.slice(0, i)}${token[i] === 'A' ? 'B' : 'A'}${token.slice(i + 1)}`;
      expect(await openCapability(key, flipped)).toBeUndefined();
    }
    expect(await openCapability(key, 'not base64 at all!')).toBeUndefined();
    expect(await openCapability(key, '')).toBeUndefined();
  });

  it('two seals of the same capability differ (random IV), and the credentials are not readable in the URL', async () => {
    const key = await uploadKey('secret-one');
    const capability = { authorization: 'Basic YWxpY2U6eA==', path: PATH, expires: 2_000_000_000 };
    const [a, b] = [await sealCapability(key, capability), await sealCapability(key, capability)];
    expect(a).not.toBe(b);
    expect(atob(a.replace(/-/g, '+').replace(/_/g, '/'))).not.toContain('YWxpY2U');
  });
});

describe('edge and origin side', () => {
  const site = { preset: 'docker' as const, directUploads: { url: 'https://upload.registry.example.com', keyEnv: 'UPLOAD_KEY', ttl: 60 } };
  const edgeSeal = uploadSealFor(site, (name) => (name === 'UPLOAD_KEY' ? 'k' : undefined))!;
  const originSeal = uploadSealFor({ uploadsFromEdge: { keyEnv: 'UPLOAD_KEY' } }, () => 'k')!;

  it('the edge points the upload Location at the upload name with a capability; the origin side opens it and strips it', async () => {
    const exchange = makeExchange('https://registry.example.com/v2/team/app/blobs/uploads/', { method: 'POST', headers: { authorization: 'Bearer t0k3n' } });
    const headers = new Headers({ location: `https://registry.example.com${PATH}?_state=a%2Bb` });
    await sealUploadLocation(exchange, edgeSeal, { status: 202, headers, body: null }, 1_000_000);
    const sealed = new URL(headers.get('location')!);
    expect(sealed.origin).toBe('https://upload.registry.example.com');
    expect(sealed.pathname).toBe(PATH);
    expect(sealed.search.startsWith('?_state=a%2Bb&rr_upload=')).toBe(true);

    // The client appends its digest, as docker does for the closing PUT.
    const put = new URL(`${sealed.href}&digest=sha256%3Aabc`);
    const opened = await openUploadRequest(originSeal, 'PUT', put, 1_000_000);
    expect(opened).toEqual({ url: new URL(`https://upload.registry.example.com${PATH}?_state=a%2Bb&digest=sha256%3Aabc`), authorization: 'Bearer t0k3n' });
    expect(await openUploadRequest(originSeal, 'PUT', put, 1_000_000 + 61_000)).toMatchObject({ status: 401, message: expect.stringMatching(/expired/) });
    expect(await openUploadRequest(originSeal, 'POST', put, 1_000_000)).toMatchObject({ status: 403 });
    const elsewhere = new URL(put.href.replace('6f0e8a2c', '00000000'));
    expect(await openUploadRequest(originSeal, 'PUT', elsewhere, 1_000_000)).toMatchObject({ status: 401, message: expect.stringMatching(/another upload/) });
    const stripped = new URL(put);
    stripped.searchParams.delete(CAPABILITY_PARAM);
    expect(await openUploadRequest(originSeal, 'PUT', stripped, 1_000_000)).toMatchObject({ status: 403 });
  });

  it('a missing key is an error that names the variable', async () => {
    const seal = uploadSealFor(site, () => undefined)!;
    await expect(seal.key()).rejects.toThrow(/UPLOAD_KEY/);
  });
});
