/**
 * Integrity under faults, on every runtime: 20 skopeo pushes of small distinct images through the
 * router to one hosted docker-registry, a few at a time, while some skopeo processes are killed at
 * random moments (client aborts mid-push) and the registry is restarted once in the middle (stopped
 * and started again on the same port and storage). Afterwards:
 *
 * - every push that reported success pulls back through the router (skopeo, and raw GETs) and
 *   directly from the registry with equal manifest and blob digests;
 * - no tag is torn: a tag that exists after a failed or aborted push still names exactly the
 *   manifest that was pushed, and every blob it lists is whole;
 * - no push failed except those that overlapped the registry restart (an abort of one client, or
 *   the restart once it is over, must not break anyone else's push);
 * - the router is still up, and a push after everything succeeds.
 *
 * Randomness (sizes, which pushes are killed and when, when the restart comes) is drawn from a
 * PRNG seeded per runtime (test/support/random.ts), so a failing run can be replayed. The counts
 * (succeeded / aborted / failed) are printed per runtime.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEntry } from '../../src/access-log.ts';
import { downloadBlob, getManifest, headManifest } from '../support/blob.ts';
import { buildImage, type BuiltImage } from '../support/image.ts';
import { randomChunks } from '../support/random.ts';
import { startRegistry, type Registry } from '../support/registry.ts';
import { frontProxy } from '../support/front-proxy.ts';
import { RUNTIMES, startRouter, type RouterProcess } from '../support/router.ts';
import { copyArgs, dockerRef, inspectDigest, skopeo, tryCopy } from '../support/skopeo.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const PUSHES = 20;
const PARALLEL = 4;
/** Share of pushes whose skopeo is killed, and the window (ms after its start) the kill lands in. */
const ABORT_SHARE = 0.35;
const ABORT_WINDOW: [number, number] = [20, 700];

let hosted: Registry;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rr-integrity-'));
  hosted = await startRegistry({ name: 'integrity-hosted' });
});

afterAll(async () => {
  await hosted?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

type Outcome = 'succeeded' | 'aborted' | 'failed';

interface Push {
  index: number;
  name: string;
  tag: string;
  image: BuiltImage;
  abortAfterMs?: number;
  outcome?: Outcome;
  detail?: string;
  startedAt?: number;
  endedAt?: number;
}

describe.each(RUNTIMES)('integrity under faults on %s', (runtime) => {
  let router: RouterProcess;
  let front: Awaited<ReturnType<typeof frontProxy>> | undefined;
  /** Where skopeo talks to the router: the router itself, or on workerd a front that refuses TLS (see frontProxy). */
  let via: string;
  const ns = `integrity-${runtime.replace(/\W/g, '')}`;
  const accessLog = (): AccessEntry[] => router.accessLog();

  beforeAll(async () => {
    router = await startRouter(runtime, {
      timeouts: { connect: 2, idle: 30 },
      sites: [{ name: 'docker', hosts: ['127.0.0.1', 'localhost'], preset: 'docker', upstream: hosted.url }],
    });
    front = runtime === 'workerd' ? await frontProxy(router.port) : undefined;
    via = front?.url ?? router.url;
  });

  afterAll(async () => {
    await front?.close();
    await router?.stop();
  });

  it(`${PUSHES} pushes, ${PARALLEL} at a time, with random client aborts and one registry restart: every reported success pulls back intact`, async () => {
    const random = await seededRandom(`integrity/${runtime}`);
    const layout = join(work, `images-${ns}`);
    const pushes: Push[] = [];
    for (let index = 0; index < PUSHES; index++) {
      const image = await buildImage(layout, {
        tag: `t${index}`,
        seed: `${ns}/${index}`,
        layers: [
          { randomBytes: Math.round(256 * KiB + random() * 1.75 * MiB) },
          { files: { 'app/index': `${runtime} ${index}\n` } },
          { randomBytes: Math.round(16 * KiB + random() * 256 * KiB) },
        ],
      });
      const abort = random() < ABORT_SHARE;
      const abortAfterMs = ABORT_WINDOW[0] + random() * (ABORT_WINDOW[1] - ABORT_WINDOW[0]);
      pushes.push({ index, name: `${ns}/app${index}`, tag: `t${index}`, image, ...(abort && { abortAfterMs }) });
    }
    // The restart comes when a push in the middle starts, a little later.
    const restartWhen = 7 + Math.floor(random() * 6);
    const restartDelayMs = random() * 300;
    let restartWindow: [number, number] | undefined;
    let restarting: Promise<void> | undefined;
    const restart = async () => {
      await new Promise((r) => setTimeout(r, restartDelayMs));
      const began = Date.now();
      await hosted.restart();
      restartWindow = [began, Date.now()];
    };

    const run = async (push: Push) => {
      if (push.index === restartWhen) restarting = restart();
      const controller = new AbortController();
      const timer = push.abortAfterMs === undefined ? undefined : setTimeout(() => controller.abort(), push.abortAfterMs);
      push.startedAt = Date.now();
      try {
        const result = await skopeo(copyArgs(push.image.ref(), dockerRef(via, push.name, push.tag)), { signal: controller.signal, timeoutMs: 30_000 });
        push.outcome = result.code === 0 ? 'succeeded' : 'failed';
        push.detail = result.stderr.trim();
      } catch (error) {
        if ((error as Error).name !== 'AbortError') throw error;
        push.outcome = 'aborted';
        push.detail = `killed ${Math.round(push.abortAfterMs!)} ms after its start`;
      } finally {
        push.endedAt = Date.now();
        clearTimeout(timer);
      }
    };
    const queue = [...pushes];
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        for (let push = queue.shift(); push; push = queue.shift()) await run(push);
      }),
    );
    await restarting;
    expect(restartWindow, 'the registry restart did not happen').toBeDefined();

    const t0 = pushes[0]!.startedAt!;
    const count = (outcome: Outcome) => pushes.filter((push) => push.outcome === outcome).length;
    const table = pushes
      .map(
        (push) =>
          `  #${push.index} ${push.name}:${push.tag} ${push.outcome} [${push.startedAt! - t0}–${push.endedAt! - t0} ms] ` +
          `${push.detail?.split('\n').at(-1) ?? ''}`,
      )
      .join('\n');
    const summary =
      `${PUSHES} pushes: ${count('succeeded')} succeeded, ${count('aborted')} aborted, ${count('failed')} failed; ` +
      `registry restarted at ${restartWindow![0] - t0}–${restartWindow![1] - t0} ms (when push #${restartWhen} started)`;
    console.info(`${runtime}: ${summary}`);

    // Every check below adds to `problems`, so one run reports all of them.
    const problems: string[] = [];

    // Failures only where the restart explains them: a push that ran while the registry was down.
    // One that started after the registry answered again has no reason to fail.
    for (const push of pushes) {
      if (push.outcome === 'failed' && (push.endedAt! < restartWindow![0] || push.startedAt! > restartWindow![1])) {
        problems.push(`#${push.index} failed away from the restart: ${push.detail?.split('\n').at(-1)}`);
      }
    }

    // Every tag present names exactly what was pushed, whole; every success is present.
    const present: Push[] = [];
    for (const push of pushes) {
      const head = await headManifest(hosted.url, push.name, push.tag);
      if (head.status === 200) present.push(push);
      else if (push.outcome === 'succeeded') problems.push(`#${push.index} reported success but the registry answers ${head.status} for its tag`);
      else if (head.status !== 404) problems.push(`#${push.index} (${push.outcome}): registry answers ${head.status} for its tag`);
    }
    for (const push of present) {
      for (const [where, base] of [
        ['router', router.url],
        ['registry', hosted.url],
      ] as const) {
        const manifest = await getManifest(base, push.name, push.tag);
        if (manifest.status !== 200 || sha256(manifest.body) !== push.image.manifestDigest) {
          problems.push(
            `#${push.index} (${push.outcome}) manifest from the ${where}: ${manifest.status} ${sha256(manifest.body)} ` +
              `${manifest.body.toString('utf8', 0, 200)}`,
          );
          continue;
        }
        for (const blob of push.image.blobs) {
          const got = await downloadBlob(base, push.name, blob.digest);
          if (got.status !== 200 || got.digest !== blob.digest || got.bytes !== blob.size) {
            problems.push(
              `#${push.index} (${push.outcome}) blob ${blob.digest} from the ${where}: ${got.status}, ${got.bytes} of ${blob.size} bytes, ${got.digest}`,
            );
          }
        }
      }
    }
    // And the way a user pulls: skopeo through the router, a few at a time.
    const pulls = pushes.filter((push) => push.outcome === 'succeeded');
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        for (let push = pulls.shift(); push; push = pulls.shift()) {
          const dir = join(work, `pulled-${ns}-${push.index}`);
          const pulled = await tryCopy(dockerRef(via, push.name, push.tag), `oci:${dir}:${push.tag}`, { timeoutMs: 30_000 });
          if (pulled.code !== 0) problems.push(`#${push.index}: skopeo pull through the router: ${pulled.stderr.trim()}`);
          else if ((await inspectDigest(`oci:${dir}:${push.tag}`)) !== push.image.manifestDigest) problems.push(`#${push.index}: pulled another manifest`);
        }
      }),
    );

    // The router came through it all: still running, and a push now works.
    if (router.child.exitCode !== null) problems.push(`the router exited with ${router.child.exitCode}: ${router.stderr()}`);
    const last = pushes.at(-1)!;
    const after = await tryCopy(last.image.ref(), dockerRef(via, `${ns}/after`, last.tag), { timeoutMs: 30_000 });
    if (after.code !== 0) problems.push(`a push after all this (${Date.now() - restartWindow![1]} ms after the restart): ${after.stderr.trim()}`);

    const routerErrors = accessLog()
      .filter((entry) => Date.parse(entry.time) >= t0 && (entry.status >= 500 || entry.error))
      .map(
        (entry) =>
          `  ${Date.parse(entry.time) - t0} ms ${entry.method} ${entry.path.replace(/(uploads\/[0-9a-f]{8})[^?]*/, '$1…').slice(0, 70)} ` +
          `${entry.status} ${entry.upstream}${entry.error ? ` (${entry.error})` : ''}`,
      );
    expect(count('succeeded'), table).toBeGreaterThan(0);
    expect(problems, `${runtime}: ${summary}\n${table}\nrouter errors (5xx or error):\n${routerErrors.slice(0, 40).join('\n')}`).toEqual([]);
  });
});

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Uniform numbers in [0, 1) from the deterministic byte stream of `seed` (test/support/random.ts). */
async function seededRandom(seed: string): Promise<() => number> {
  const chunks: Buffer[] = [];
  for await (const chunk of randomChunks(64 * KiB, seed)) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  let at = 0;
  return () => {
    const value = bytes.readUInt32BE(at) / 2 ** 32;
    at = (at + 4) % bytes.length;
    return value;
  };
}
