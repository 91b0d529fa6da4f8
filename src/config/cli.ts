import { ConfigError, loadDefaultConfig, parseConfigText } from './load.ts';
import { dirnameOf, resolveConfigPaths } from './paths.ts';
import type { Config } from './schema.ts';

export interface StartOptions {
  config: Config;
  /** Where the config came from, for the startup line. */
  source: string;
}

/**
 * The process-level config from raw arguments (`--config FILE`, `--quiet`); the command line itself
 * is parsed by src/cli/program.ts, which calls `loadStartConfig`.
 */
export function configFromArgs(
  argv: readonly string[],
  env: (name: string) => string | undefined,
  readText: (path: string) => string,
): StartOptions {
  const flag = argv.indexOf('--config');
  if (flag >= 0 && !argv[flag + 1]) throw new ConfigError('--config needs a file path');
  return loadStartConfig({ configPath: flag >= 0 ? argv[flag + 1] : undefined, quiet: argv.includes('--quiet') }, env, readText);
}

/**
 * The config to serve: `configPath`, else `REGISTRY_ROUTER_CONFIG=FILE`, else the built-in default
 * (file paths in it relative to its folder); `PORT` overrides the first listener's port (only the
 * first: platforms that set PORT give the process one listener); `quiet` turns the access log off.
 * File reading is injected so each runtime uses its own API.
 */
export function loadStartConfig(
  options: { configPath?: string | undefined; quiet?: boolean },
  env: (name: string) => string | undefined,
  readText: (path: string) => string,
): StartOptions {
  const path = options.configPath ?? env('REGISTRY_ROUTER_CONFIG');
  let config: Config;
  if (path) {
    config = resolveConfigPaths(parseConfigText(readConfigFile(path, readText), path), dirnameOf(path));
  } else {
    config = loadDefaultConfig();
  }
  const port = env('PORT');
  if (port !== undefined && port !== '') {
    if (!/^\d+$/.test(port) || Number(port) > 65535) throw new ConfigError(`PORT must be a port number, got "${port}"`);
    // The first listener's port (platforms that set PORT give the process one listener).
    config = { ...config, listen: config.listen.map((entry, i) => (i === 0 ? { ...entry, port: Number(port) } : entry)) };
  }
  if (options.quiet) config = { ...config, accessLog: false };
  return { config, source: path ?? 'built-in default config' };
}

/** The config file's text, or a ConfigError naming the file. */
export function readConfigFile(path: string, readText: (path: string) => string): string {
  try {
    return readText(path);
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
}
