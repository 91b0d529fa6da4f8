import type { Config } from './schema.ts';

/** The folder part of a file path (`conf/router.json` → `conf`, `router.json` → `.`). Plain string work: runs on every runtime. */
export function dirnameOf(path: string): string {
  const cut = path.replace(/\/+$/, '').lastIndexOf('/');
  if (cut < 0) return '.';
  return cut === 0 ? '/' : path.slice(0, cut);
}

/** `base` + `path` unless `path` is absolute. */
export function resolveFrom(base: string, path: string): string {
  if (path.startsWith('/') || base === '.' || base === '') return path;
  return `${base.replace(/\/+$/, '')}/${path}`;
}

/**
 * File paths in a config file (certificates, keys, the CA, static folders) are relative to the
 * folder of that config file, as the `certs` command writes them; the built-in config uses the
 * working directory.
 */
export function resolveConfigPaths(config: Config, baseDir: string): Config {
  const at = (path: string) => resolveFrom(baseDir, path);
  return {
    ...config,
    listen: config.listen.map((entry) => ({ ...entry, certs: entry.certs.map(({ cert, key }) => ({ cert: at(cert), key: at(key) })) })),
    ...(config.caCert !== undefined && { caCert: at(config.caCert) }),
    sites: config.sites.map((site) => ({ ...site, static: site.static.map((mount) => ({ ...mount, dir: at(mount.dir) })) })),
  };
}
