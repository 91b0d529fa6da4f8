/**
 * `npm run build:bin`: the router as single executables, one file per platform that runs with
 * nothing else installed (the Bun runtime and the bundled code in one ELF file, linked only to
 * glibc), and a SHA-256 file beside them for `sha256sum -c`:
 *
 *   dist/registry-router-linux-x64  dist/registry-router-linux-arm64  dist/SHA256SUMS
 *
 *   tsx scripts/build-bin.ts [--out DIR] [--target linux-x64,linux-arm64]
 *
 * `bun build --compile` of the Node entry (src/node.ts): the same command line as `node
 * dist/node.mjs`; `serve` runs on Bun.serve (or Bun's node:http, as `bun run src/node.ts` decides).
 * A target other than this machine's is cross-compiled: Bun downloads that target's runtime from
 * the npm registry once (into its install cache). The same sources give the same bytes (the output
 * file's name is part of them). No separate x64 "baseline" build for CPUs without AVX2: Bun 1.4.5's
 * `bun-linux-x64-baseline` target gives a file identical to `bun-linux-x64`'s.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const BUN = join(ROOT, 'node_modules', '.bin', 'bun');

/** The platforms the binaries are built for (names as Bun's `--target=bun-<name>` spells them). */
export const TARGETS = ['linux-x64', 'linux-arm64'] as const;
export type Target = (typeof TARGETS)[number];

/** The file name of one platform's executable. */
export const binaryName = (target: Target): string => `registry-router-${target}`;

/** SHA-256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Builds the executables for `targets` into `out` and writes `out/SHA256SUMS` (lines as
 * `sha256sum` prints them). Returns each file's path and hash. Throws with Bun's output when a
 * build fails.
 */
export async function buildBinaries(out: string, targets: readonly Target[] = TARGETS): Promise<Array<{ target: Target; path: string; sha256: string }>> {
  await mkdir(out, { recursive: true });
  const built = [];
  for (const target of targets) {
    const path = join(out, binaryName(target));
    await rm(path, { force: true });
    execFileSync(
      BUN,
      [
        'build',
        '--compile',
        `--target=bun-${target}`,
        // A compiled Bun program reads .env and bunfig.toml from the folder it runs in unless told not to:
        // a stray `.env` with PORT=3000 would move the listener. The router takes --config, REGISTRY_ROUTER_CONFIG,
        // PORT and HOST from the environment it is given, as on Node (bunfig.toml says the same for `bun run`).
        '--no-compile-autoload-dotenv',
        '--no-compile-autoload-bunfig',
        'src/node.ts',
        '--outfile',
        path,
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    built.push({ target, path, sha256: await sha256File(path) });
  }
  await writeFile(join(out, 'SHA256SUMS'), built.map(({ target, sha256 }) => `${sha256}  ${binaryName(target)}\n`).join(''));
  return built;
}

/** Parses `--target a,b` against TARGETS, naming the bad one. */
function targetsOf(list: string): Target[] {
  return list.split(',').map((name) => {
    if (!(TARGETS as readonly string[]).includes(name)) throw new Error(`--target: unknown target "${name}" (one or more of: ${TARGETS.join(', ')})`);
    return name as Target;
  });
}

if (import.meta.url === `file://${process.argv[1] && resolve(process.argv[1])}`) {
  try {
    const { values } = parseArgs({ options: { out: { type: 'string', default: 'dist' }, target: { type: 'string' } } });
    const started = Date.now();
    const built = await buildBinaries(resolve(values.out), values.target ? targetsOf(values.target) : TARGETS);
    for (const { path, sha256 } of built) console.error(`built ${path} (sha256 ${sha256})`);
    console.error(`wrote ${join(resolve(values.out), 'SHA256SUMS')} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    console.error(`build-bin: ${(error as Error).message}${stderr ? `\n${stderr}` : ''}`);
    process.exit(1);
  }
}
