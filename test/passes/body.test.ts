/**
 * The body stage as passes (src/passes/body.ts): which passes a site gets, what each does alone,
 * and the one failure path through forward() (a pass that throws: the router's own 500, or the
 * upstream's body failing: 502), with the access-log line it writes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AccessEntry } from '../../src/access-log.ts';
import { parseConfig } from '../../src/config/load.ts';
import { uploadSealFor } from '../../src/edge/uploads.ts';
import type { Exchange, UpstreamResponse } from '../../src/exchange.ts';
import { forward } from '../../src/forward/forward.ts';
import { applyBody, bodyPasses, bodyPassesFor, mapUrls, readSmallBodies, sealUploads } from '../../src/passes/body.ts';
import { makeExchange } from '../support/exchange.ts';

const siteConfig = (site: Record<string, unknown>) =>
  parseConfig({ sites: [{ name: 's', hosts: ['s.example.com'], upstreams: { read: 'http://group:8082', write: 'http://hosted:8083' }, ...site }] }).sites[0]!;
const names = (passes: readonly unknown[]) => passes.map((pass) => (pass as { name: string }).name);

describe('which body passes a site gets', () => {
  it('all of them, in order: seal, map, read small bodies', () => {
    expect(names(bodyPasses)).toEqual(['sealUploads', 'mapUrls', 'readSmallBodies']);
  });

  it('a plain docker site: only small bodies read whole', () => {
    expect(bodyPassesFor(siteConfig({ preset: 'docker' }))).toEqual([readSmallBodies]);
  });

  it('sealing only where direct uploads are configured, either half', () => {
    const edge = siteConfig({ preset: 'docker', directUploads: { url: 'https://upload.example.com', keyEnv: 'K' } });
    expect(bodyPassesFor(edge)).toEqual([sealUploads, readSmallBodies]);
    expect(bodyPassesFor(siteConfig({ preset: 'docker', uploadsFromEdge: { keyEnv: 'K' } }))).toEqual([sealUploads, readSmallBodies]);
  });

  it('URL mapping where the preset or a site rule maps URLs', () => {
    expect(bodyPassesFor(siteConfig({ preset: 'npm' }))).toEqual([mapUrls, readSmallBodies]);
    expect(bodyPassesFor(siteConfig({ preset: 'pypi' }))).toEqual([mapUrls, readSmallBodies]);
    const own = siteConfig({ preset: 'generic', rules: [{ methods: ['GET'], path: '/index/**', to: 'read', mapUrls: true }] });
    expect(bodyPassesFor(own)).toEqual([mapUrls, readSmallBodies]);
    expect(bodyPassesFor(siteConfig({ preset: 'generic' }))).toEqual([readSmallBodies]);
  });

  it('passes/ does not import forward/ (the message types live in exchange.ts)', () => {
    const dir = join(import.meta.dirname, '../../src/passes');
    for (const file of readdirSync(dir)) expect(readFileSync(join(dir, file), 'utf8'), file).not.toMatch(/from '\.\.\/forward\//);
  });
});

const streamOf = (text: string): ReadableStream<Uint8Array> => new Response(text).body!;

describe('the passes alone', () => {
  it('readSmallBodies reads a body that declares at most 64 KiB whole; returns nothing to wait for otherwise', async () => {
    const exchange = makeExchange('http://idocker.io/v2/team/app/manifests/1.0');
    const small: UpstreamResponse = { status: 200, headers: new Headers({ 'content-length': '5' }), body: streamOf('hello') };
    await readSmallBodies(exchange, small);
    expect(small.body).toEqual(new TextEncoder().encode('hello'));
    const unsized: UpstreamResponse = { status: 200, headers: new Headers(), body: streamOf('hello') };
    expect(readSmallBodies(exchange, unsized)).toBeUndefined();
    expect(unsized.body).toBeInstanceOf(ReadableStream);
    const big: UpstreamResponse = { status: 200, headers: new Headers({ 'content-length': String(64 * 1024 + 1) }), body: streamOf('x') };
    expect(readSmallBodies(exchange, big)).toBeUndefined();
  });

  it('readSmallBodies refuses a body longer than it declared', async () => {
    const exchange = makeExchange('http://idocker.io/v2/team/app/manifests/1.0');
    const liar: UpstreamResponse = { status: 200, headers: new Headers({ 'content-length': '2' }), body: streamOf('hello') };
    await expect(readSmallBodies(exchange, liar)).rejects.toThrow('sent more than its Content-Length of 2 bytes');
  });

  it('mapUrls and sealUploads do nothing (and nothing to wait for) where the exchange does not call for them', () => {
    const exchange = makeExchange('http://idocker.io/v2/team/app/blobs/uploads/', { method: 'POST' });
    const answer: UpstreamResponse = { status: 202, headers: new Headers({ location: '/v2/team/app/blobs/uploads/1' }), body: null };
    expect(mapUrls(exchange, answer)).toBeUndefined();
    expect(sealUploads(exchange, answer)).toBeUndefined();
    expect(applyBody(exchange, answer)).toBeUndefined();
    expect(answer.headers.get('location')).toBe('/v2/team/app/blobs/uploads/1');
  });

  it('applyBody runs them in order, each after the one before has finished', async () => {
    const exchange = makeExchange('http://idocker.io/v2/');
    const seen: string[] = [];
    const answer: UpstreamResponse = { status: 200, headers: new Headers(), body: null };
    await applyBody(exchange, answer, [
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        seen.push('first');
      },
      () => void seen.push('second'),
      async () => void seen.push('third'),
    ]);
    expect(seen).toEqual(['first', 'second', 'third']);
  });
});

describe('a body pass that fails, through forward()', () => {
  const answerWith = (response: UpstreamResponse) => ({ send: async () => response });
  const run = async (exchange: Exchange, response: UpstreamResponse) => {
    const lines: AccessEntry[] = [];
    const answered = await forward(exchange, { client: answerWith(response), log: (entry) => void lines.push(entry) });
    return { answered, lines };
  };

  it('an upload key that is not set: 500 naming the variable, in the registry format, logged with that message', async () => {
    const site = { directUploads: { url: 'https://upload.example.com', keyEnv: 'NO_SUCH_KEY', ttl: 3600 } };
    const base = makeExchange('http://idocker.io/v2/team/app/blobs/uploads/', { method: 'POST', site });
    const uploads = uploadSealFor(site, () => undefined)!;
    const exchange: Exchange = { ...base, site: { ...base.site, uploads } };
    const location = 'http://hosted:8083/v2/team/app/blobs/uploads/1';
    const { answered, lines } = await run(exchange, { status: 202, headers: new Headers({ location }), body: null });
    expect(answered.status).toBe(500);
    const body = (await answered.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]!.code).toBe('UNAVAILABLE');
    expect(body.errors[0]!.message).toContain('put the shared secret in NO_SUCH_KEY');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 500, error: body.errors[0]!.message });
  });

  it('an upstream body longer than it declared: 502, logged as a response-body error', async () => {
    const exchange = makeExchange('http://idocker.io/v2/team/app/manifests/1.0');
    const { answered, lines } = await run(exchange, { status: 200, headers: new Headers({ 'content-length': '2' }), body: streamOf('hello') });
    expect(answered.status).toBe(502);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 502, error: 'response body: sent more than its Content-Length of 2 bytes' });
  });

  it('a site without the mapping pass forwards a packument as it came', async () => {
    const packument = '{"dist":{"tarball":"http://nexus:8081/repository/npm-group/a/-/a-1.0.0.tgz"}}';
    const site = { preset: 'npm' as const, upstreams: { read: 'http://nexus:8081/repository/npm-group/', write: 'http://nexus:8081/repository/npm-hosted/' } };
    const exchange = makeExchange('http://npm.example.com/a', { site });
    const headers = () => new Headers({ 'content-type': 'application/json', 'content-length': String(packument.length) });
    const mapped = await forward(exchange, { client: answerWith({ status: 200, headers: headers(), body: streamOf(packument) }), log: () => {} });
    expect(await mapped.text()).toContain('"http://npm.example.com/a/-/a-1.0.0.tgz"');
    const again = makeExchange('http://npm.example.com/a', { site });
    const client = answerWith({ status: 200, headers: headers(), body: streamOf(packument) });
    const plain = await forward(again, { client, log: () => {}, bodyPasses: [readSmallBodies] });
    expect(await plain.text()).toBe(packument);
  });
});
