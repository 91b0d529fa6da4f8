/** What workerd hands the worker (no @cloudflare/workers-types for one folder). */
import type { Hono } from 'hono';

/** The worker's bindings: ROUTER_CONFIG (var or secret), PUSH_SESSIONS (a Durable Object namespace) and secrets. */
export interface Env {
  ROUTER_CONFIG?: string;
}

/** Workers' ExecutionContext, as Hono types it. */
export type ExecutionContext = NonNullable<Parameters<Hono['fetch']>[2]>;

/** workerd's pass-through of a declared length (absent elsewhere). */
export type FixedLengthStreamClass = new (length: number) => { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
