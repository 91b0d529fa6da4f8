import { ConfigError, loadDefaultConfig, parseConfigText } from './load.ts';
import { dirnameOf, resolveConfigPaths } from './paths.ts';
import { adminClashes, type Config } from './schema.ts';
import { addressesClash, clashText } from './serving.ts';
import { withBindHost } from '../cli/start-lines.ts';

export interface StartOptions {
  config: Config;
  /** Where the config came from, for the startup line. */
  source: string;
}

/**
 * The process-level config from raw arguments (`--config FILE`, `--quiet`); the command line itself
 * is parsed by src/cli/program.ts, which calls `loadStartConfig`.
 */
export function configFromArgs(argv: readonly string[], env: (name: string) => string | undefined, readText: (path: string) => string): StartOptions {
  const flag = argv.indexOf('--config');
  if (flag >= 0 && !argv[flag + 1]) throw new ConfigError('--config needs a file path');
  return loadStartConfig({ configPath: flag >= 0 ? argv[flag + 1] : undefined, quiet: argv.includes('--quiet') }, env, readText);
}

/**
 * The config to serve: `configPath`, else `REGISTRY_ROUTER_CONFIG=FILE`, else the built-in default
 * (file paths in it relative to its folder); `PORT` and `HOST` override the first listener's port and
 * address (only the first: platforms that set PORT give the process one listener); `quiet` turns the access log off.
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
  config = withListenFromEnv(config, env);
  if (options.quiet) config = { ...config, accessLog: false };
  return { config, source: path ?? 'built-in default config' };
}

/**
 * `PORT` and `HOST` (when set and not empty) replace the first listener's port and address:
 * platforms that set them give the process one listener. A PORT that is no port (`HOST`: see
 * cli/start-lines.ts), or a listener that then shares a socket with another listener or the admin
 * listener, is a ConfigError saying so. `serve` and `check` both apply them.
 */
export function withListenFromEnv(config: Config, env: (name: string) => string | undefined): Config {
  const port = env('PORT') || undefined;
  const host = env('HOST') || undefined;
  if (port === undefined && host === undefined) return config;
  if (port !== undefined && (!/^\d+$/.test(port) || Number(port) > 65535)) {
    throw new ConfigError(
      `PORT must be a port number from 0 to 65535 (it replaces the port of listen[0]), got ${JSON.stringify(port)}: set a number, or unset PORT`,
    );
  }
  const moved = withBindHost({ config, source: '' }, host).config;
  const listen = moved.listen.map((entry, i) => (i === 0 && port !== undefined ? { ...entry, port: Number(port) } : entry));
  const next = { ...moved, listen };
  const first = listen[0]!;
  const set = [host !== undefined && `HOST=${host}`, port !== undefined && `PORT=${port}`].filter(Boolean).join(' ');
  const clashes = [
    ...listen.flatMap((entry, i) => (i > 0 && addressesClash(first, entry) ? [`listen[0].port: ${clashText(first, 'listen[0]', entry, `listen[${i}]`)}`] : [])),
    ...adminClashes(next).map((problem) => `admin.port: ${problem}`),
  ].map((problem) => problem.replace(': ', `: with ${set}, `));
  if (clashes.length) throw new ConfigError(clashes.join('\n'), clashes);
  return next;
}

/** The config file's text, or a ConfigError naming the file. */
export function readConfigFile(path: string, readText: (path: string) => string): string {
  try {
    return readText(path);
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
}
