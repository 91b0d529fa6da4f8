/**
 * The Fetch API client's runtime knobs that Bun uses: a small answer the runtime already holds
 * whole (`settledBody`), and the count of an upload's bytes (`onUploadChunk`). A stand-in fetch
 * answers, so these run on any runtime.
 */
import { describe, expect, it } from 'vitest';
import { fetchClient } from '../../src/forward/fetch-client.ts';
import { HeaderFields } from '../../src/header-fields.ts';
import type { OutgoingRequest } from '../../src/exchange.ts';

const TIMEOUTS = { idle: 5, connect: 5 };
const text = (bytes: unknown) => new TextDecoder().decode(bytes as Uint8Array);

function outgoing(method: string, body: ReadableStream<Uint8Array> | null = null): OutgoingRequest {
  return { url: 'http://origin.test/v2/a/manifests/1', method, headers: new HeaderFields(), body, signal: new AbortController().signal };
}

const answerOf = (body: string) => async () => new Response(body, { status: 200, headers: { 'content-length': String(body.length) } });

describe('fetch client: a settled small body', () => {
  it('takes what settledBody gives when its length is the declared one, without reading the stream', async () => {
    const client = fetchClient(TIMEOUTS, {
      fetch: answerOf('{"a":1}'),
      settledBody: (answer) => {
        // The answer must stay readable for the fallback; here it is not read.
        expect(answer.bodyUsed).toBe(false);
        return new TextEncoder().encode('{"b":2}');
      },
    });
    const response = await client.send(outgoing('GET'));
    expect(text(response.body)).toBe('{"b":2}');
    await client.close?.();
  });

  it('reads the stream when settledBody has nothing, or bytes of another length', async () => {
    for (const given of [undefined, new Uint8Array(3)]) {
      const client = fetchClient(TIMEOUTS, { fetch: answerOf('{"a":1}'), settledBody: () => given });
      const response = await client.send(outgoing('GET'));
      expect(text(response.body)).toBe('{"a":1}');
      await client.close?.();
    }
  });

  it('is not asked for a HEAD answer', async () => {
    const client = fetchClient(TIMEOUTS, {
      fetch: answerOf('{"a":1}'),
      settledBody: () => {
        throw new Error('asked');
      },
    });
    const response = await client.send(outgoing('HEAD'));
    expect(response.body).toBeNull();
    expect(response.headers.get('content-length')).toBe('7');
    await client.close?.();
  });
});

describe('fetch client: onUploadChunk', () => {
  it('counts every byte of a request body as it goes upstream', async () => {
    const counted: number[] = [];
    const client = fetchClient(TIMEOUTS, {
      fetch: async (_url, init) => {
        await new Response(init.body as ReadableStream<Uint8Array>).arrayBuffer();
        return new Response(null, { status: 201 });
      },
      onUploadChunk: (bytes) => counted.push(bytes),
    });
    const chunks = [new Uint8Array(5), new Uint8Array(7)];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk);
        controller.close();
      },
    });
    const response = await client.send(outgoing('PUT', body));
    expect(response.status).toBe(201);
    expect(counted).toEqual([5, 7]);
    await client.close?.();
  });
});
