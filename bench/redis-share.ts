/**
 * "Redis round trip's share of a manifest HEAD inside a push session" (issue 21): the router (built
 * bundle on Node, or another runtime of test/support/router.ts) in front of a small in-process origin,
 * once with `sessions.redis` (a `redis-server` of its own on loopback) and once with in-process
 * sessions; the same client opens a push session (a blob HEAD) and then sends `requests` manifest
 * HEADs one after another (each a session `find`: one Redis round trip). The share is Redis's own
 * round trip (ioredis PING from here, median) over the median HEAD with Redis; the difference of the
 * two runs' medians is printed beside it (it is within the runs' noise on a busy machine). `npx tsx bench/redis-share.ts [runtime] [requests]` runs it alone
 * (after `npm run build` for node).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { startRedis, stopRedis } from '../test/support/redis.ts';
import { startRouter, type Runtime } from '../test/support/router.ts';

export interface RedisShare {
  runtime: Runtime;
  requests: number;
  /** Median manifest HEAD inside a push session, µs: sessions in Redis, and in the process. */
  headRedisUs: number;
  headLocalUs: number;
  /** Median ioredis PING from the bench process, µs. */
  pingUs: number;
  /** pingUs / headRedisUs: the round trip's share of the HEAD. */
  share: number;
  /** (headRedis − headLocal) / headRedis, as measured (noisy: two runs of the router, each its own median). */
  measuredShare: number;
  /** The printed line. */
  line: string;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

/** Runs both configurations on `runtime` and returns the figures and the line to print. */
export async function redisShare(runtime: Runtime = 'node', requests = 2000): Promise<RedisShare> {
  // The origin answers every HEAD at once: what is left is the router and, with Redis, its round trip.
  const origin = createServer((req, res) => {
    req.resume();
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': '2' }).end(req.method === 'HEAD' ? undefined : '{}');
  });
  await new Promise<void>((done) => origin.listen(0, '127.0.0.1', done));
  const upstream = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  const redis = await startRedis();
  const agent = new Agent({ connections: 1, pipelining: 1 });
  try {
    const measure = async (sessions: boolean): Promise<number> => {
      const router = await startRouter(
        runtime,
        {
          sites: [{ name: 'docker', hosts: ['idocker.io'], preset: 'docker', upstreams: { read: upstream, write: upstream }, health: { checks: false } }],
          accessLog: false,
          ...(sessions && { sessions: { redis: redis.url } }),
        },
        { quiet: true },
      );
      try {
        const headers = { host: 'idocker.io', authorization: 'Basic YmVuY2g6eA==', accept: 'application/vnd.oci.image.manifest.v1+json, */*' };
        const head = async (path: string) => {
          const answer = await request(`${router.url}${path}`, { method: 'HEAD', headers, dispatcher: agent });
          await answer.body.dump();
          return answer.statusCode;
        };
        // The push session: opened by a blob HEAD (and, with Redis, once the router is connected).
        await head(`/v2/bench/app/blobs/sha256:${'0'.repeat(64)}`);
        await new Promise((r) => setTimeout(r, 300));
        await head(`/v2/bench/app/blobs/sha256:${'0'.repeat(64)}`);
        const times: number[] = [];
        for (let i = 0; i < requests + 200; i++) {
          const started = process.hrtime.bigint();
          await head('/v2/bench/app/manifests/1');
          // The first 200 warm the JIT and the connection up.
          if (i >= 200) times.push(Number(process.hrtime.bigint() - started) / 1000);
        }
        return median(times);
      } finally {
        await router.stop();
      }
    };
    const headLocalUs = await measure(false);
    const headRedisUs = await measure(true);
    const client = new Redis(redis.url);
    const pings: number[] = [];
    for (let i = 0; i < requests; i++) {
      const started = process.hrtime.bigint();
      await client.ping();
      pings.push(Number(process.hrtime.bigint() - started) / 1000);
    }
    client.disconnect();
    const pingUs = median(pings);
    const share = pingUs / headRedisUs;
    const measuredShare = (headRedisUs - headLocalUs) / headRedisUs;
    const line =
      `Redis round trip's share of a manifest HEAD inside a push session (${runtime}): ${(share * 100).toFixed(1)}% ` +
      `(Redis PING median ${pingUs.toFixed(0)} µs; HEAD median ${headRedisUs.toFixed(0)} µs with sessions in Redis, ` +
      `${headLocalUs.toFixed(0)} µs in the process: ${(measuredShare * 100).toFixed(0)}% apart; ${requests} HEADs one after another)`;
    return { runtime, requests, headRedisUs, headLocalUs, pingUs, share, measuredShare, line };
  } finally {
    await agent.close();
    await stopRedis(redis);
    await new Promise((done) => origin.close(done));
  }
}

if (process.argv[1]?.endsWith('redis-share.ts')) {
  const result = await redisShare((process.argv[2] as Runtime | undefined) ?? 'node', Number(process.argv[3] ?? 2000));
  console.log(result.line);
}
