/**
 * One build of the single executables and of the OCI image, shared by the test files that need them
 * (test/ship/*, test/deploy/systemd.test.ts): kept in node_modules/.cache/registry-router-ship/<key>,
 * the key a hash of everything that goes into them (src/, package.json, the lock file, the build
 * scripts) and of the day (the image takes that day's Debian packages). Test files run one after
 * another (vitest.config.ts), so the first one builds and the others find it done.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { buildBinaries, binaryName, type Target } from '../../scripts/build-bin.ts';
import { buildImage, type BuiltImage } from '../../scripts/build-image.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
const CACHE = join(ROOT, 'node_modules', '.cache', 'registry-router-ship');

/** Every file under `dir`, sorted, relative to ROOT. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => relative(ROOT, path))
    .sort();
}

/** The build's inputs as one hash (file names and contents), with the UTC day. */
function sourceKey(): string {
  const hash = createHash('sha256');
  const inputs = [...filesUnder(join(ROOT, 'src')), 'package.json', 'package-lock.json', 'scripts/build-bin.ts', 'scripts/build-image.ts'];
  for (const path of inputs)
    hash
      .update(`${path}\0`)
      .update(readFileSync(join(ROOT, path)))
      .update('\0');
  hash.update(new Date().toISOString().slice(0, 10));
  return hash.digest('hex').slice(0, 16);
}

/** Builds into `<key>/<what>` once: a `.partial` folder renamed when complete; other keys' builds are removed. */
async function once(what: string, build: (dir: string) => Promise<void>): Promise<string> {
  const key = sourceKey();
  const dir = join(CACHE, key, what);
  if (existsSync(join(dir, '.complete'))) return dir;
  // Older builds (~330 MB each) go.
  if (existsSync(CACHE)) for (const other of readdirSync(CACHE)) if (other !== key) await rm(join(CACHE, other), { recursive: true, force: true });
  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  await build(partial);
  await writeFile(join(partial, '.complete'), '');
  await rm(dir, { recursive: true, force: true });
  await rename(partial, dir);
  return dir;
}

export interface ShipBinaries {
  dir: string;
  /** The executable for a target (x64 runs here; arm64 only goes into the image). */
  path(target: Target): string;
}

/** Both executables and SHA256SUMS, as `npm run build:bin` makes them. */
export async function shipBinaries(): Promise<ShipBinaries> {
  const dir = await once('bin', async (out) => {
    await buildBinaries(out);
  });
  return { dir, path: (target) => join(dir, binaryName(target)) };
}

/** The two-platform image from those executables, as `npm run build:image` makes it, and its layout's record. */
export async function shipImage(): Promise<{ layout: string; tag: string; built: BuiltImage }> {
  const bins = await shipBinaries();
  const dir = await once('image', async (out) => {
    const built = await buildImage({ binDir: bins.dir, out: join(out, 'oci') });
    await writeFile(join(out, 'built.json'), JSON.stringify({ ...built, layout: undefined }));
  });
  const built = JSON.parse(readFileSync(join(dir, 'built.json'), 'utf8')) as BuiltImage;
  return { layout: join(dir, 'oci'), tag: built.tag, built: { ...built, layout: join(dir, 'oci') } };
}
