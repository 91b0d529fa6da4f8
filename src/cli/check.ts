/**
 * `registry-router check --config FILE [--runtime R] [--probe] [--workers N]`: what `nginx -t` is to nginx.
 * Reads the file as the router would (JSONC), lists every problem with its field path, then what
 * the chosen runtime cannot do (config/features.ts, config/worker.ts), whether the certificate
 * files load, whether the static folders are there, and warnings (config/warnings.ts). `PORT` and
 * `HOST` are applied as `serve` applies them. With `--probe` it GETs every upstream of every site through the
 * runtime's own upstream client and says how each answered, and PINGs the sessions store (Redis) when
 * the config has one. Exit 0 when fine, 2 when not; warnings alone do not fail it.
 */
import { readConfigFile, withListenFromEnv } from '../config/cli.ts';
import { featureProblems, type RuntimeName } from '../config/features.ts';
import { ConfigError, parseConfigText } from '../config/load.ts';
import { dirnameOf, resolveConfigPaths } from '../config/paths.ts';
import type { Config } from '../config/schema.ts';
import { addressText } from '../config/serving.ts';
import { pemPairProblems } from '../config/tls-files.ts';
import { sessionsWarnings, workersIgnored } from '../config/sessions.ts';
import { configWarnings } from '../config/warnings.ts';
import { workerProblems } from '../config/worker.ts';
import type { ClientTimeouts, UpstreamClient } from '../forward/client.ts';
import { compileSite } from '../site/site.ts';
import type { Output } from './program.ts';

export interface CheckOptions {
  path: string;
  runtime: RuntimeName;
  probe: boolean;
  /** `--workers`: replaces the config's `workers`, as `serve --workers` does. */
  workers?: number | 'auto' | undefined;
  readText(path: string): string;
  /** The environment (`PORT`, `HOST`), as `serve` reads it; none when left out. */
  env?: (name: string) => string | undefined;
  client(timeouts: ClientTimeouts): UpstreamClient;
  output: Output;
}

/** Runs the check and prints its report on stdout; true when the config is fine for the runtime. */
export async function checkCommand(options: CheckOptions): Promise<boolean> {
  const { path, runtime, output } = options;
  const say = (line = '') => output.out(`${line}\n`);
  const fail = (heading: string, problems: readonly string[]) => {
    say(problems.length ? `${heading}:` : heading);
    for (const problem of problems) say(problem.startsWith('  ') ? problem : `  ${problem}`);
    say(`registry-router: ${path}: check failed`);
    return false;
  };

  let config: Config;
  try {
    config = resolveConfigPaths(parseConfigText(readConfigFile(path, options.readText), path), dirnameOf(path));
    // The worker has no listeners of its own (the platform's), so PORT and HOST mean nothing there.
    if (runtime !== 'worker') config = withListenFromEnv(config, options.env ?? (() => undefined));
    if (options.workers !== undefined) config = { ...config, workers: options.workers };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const [first, ...rest] = error.message.split('\n');
    // "is invalid:" / "is not valid JSON:" heading, then the problems as the error lists them.
    if (!rest.length) return fail(`registry-router: ${first}`, []);
    return fail(`registry-router: ${first!.replace(/:$/, '')} (${count(error.problems.length, 'problem')})`, error.problems);
  }

  const problems = [
    ...(runtime === 'worker' ? workerProblems(config) : featureProblems(runtime, config)),
    ...fileProblems(config, runtime, options.readText, path),
    ...(await folderProblems(config, runtime)),
  ];
  for (const site of config.sites) {
    try {
      compileSite(site);
    } catch (error) {
      problems.push(`site ${site.name}: ${(error as Error).message}`);
    }
  }
  for (const warning of [...configWarnings(config), ...sessionsWarnings(config, runtime), ...workersIgnored(config, runtime)]) say(`warning: ${warning}`);
  if (problems.length) return fail(`registry-router: ${path} is valid, but ${runtime} cannot run it as it is (${count(problems.length, 'problem')})`, problems);

  const urls = config.listen.map((entry) => `${entry.certs.length ? 'https' : 'http'}://${addressText(entry)}`);
  const listeners = runtime === 'worker' ? "listeners: the platform's" : `listening on ${urls.join(', ')}`;
  const sites = `${count(config.sites.length, 'site')}: ${config.sites.map((site) => site.name).join(', ')}`;
  say(`registry-router: ${path} is fine for ${runtime} (${sites}; ${listeners})`);

  if (!options.probe) return true;
  const { probeUpstreams } = await import('./probe.ts');
  const probed = await probeUpstreams(config, options.client(config.timeouts), output);
  if (!probed) say(`registry-router: ${path}: some upstreams did not answer as expected`);
  if (!config.sessions) return probed;
  const { probeRedis } = await import('../site/redis-sessions.ts');
  const stored = await probeRedis(config.sessions, say);
  if (!stored) say(`registry-router: ${path}: the sessions store cannot be used as configured`);
  return probed && stored;
}

/** Certificate and CA files: they load, and each key matches its certificate. None on a worker (refused above). */
function fileProblems(config: Config, runtime: RuntimeName, readText: (path: string) => string, configPath: string): string[] {
  if (runtime === 'worker') return [];
  const problems: string[] = [];
  config.listen.forEach((entry, i) => {
    for (const problem of pemPairProblems(entry, readText)) problems.push(`listen[${i}]: ${problem.replace('--config CONFIG', `--config ${configPath}`)}`);
  });
  if (config.caCert !== undefined) {
    try {
      if (!/-----BEGIN CERTIFICATE-----/.test(readText(config.caCert))) problems.push(`caCert: ${config.caCert} holds no PEM certificate`);
    } catch (error) {
      problems.push(`caCert: cannot read ${config.caCert}: ${(error as Error).message}; \`npm run certs -- --config ${configPath}\` writes certs/ca.crt`);
    }
  }
  return problems;
}

/**
 * `static` folders that are not there (or are files): the router would answer 404 to every request
 * under their prefix. Node, Bun and Deno read them through node:fs (src/local/node-files.ts).
 */
async function folderProblems(config: Config, runtime: RuntimeName): Promise<string[]> {
  if (runtime === 'worker' || !config.sites.some((site) => site.static.length)) return [];
  const { nodeFiles } = await import('../local/node-files.ts');
  const problems: string[] = [];
  for (const [i, site] of config.sites.entries()) {
    for (const [m, mount] of site.static.entries()) {
      const info = await nodeFiles.stat(mount.dir).catch((error: Error) => error);
      if (!(info instanceof Error) && info?.kind === 'directory') continue;
      const what = info instanceof Error ? `cannot be read (${info.message})` : info ? 'is not a folder' : 'is not there';
      problems.push(
        `sites[${i}].static[${m}].dir: ${mount.dir} ${what}, so every request under ${mount.prefix}/ would answer 404; ` +
          "create it, or fix the path (relative to the config file's folder)",
      );
    }
  }
  return problems;
}

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;
