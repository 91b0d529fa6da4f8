/**
 * The command line: `registry-router [serve] [--config FILE] [--quiet]`, `check`, `route`, `certs`,
 * `import-nginx`, `demo`, each with `--help`, and `--version`. The same code runs as
 * `node dist/node.mjs …`, `bun run src/node.ts …`, `bun run src/bun.ts …` and
 * `deno run … src/deno.ts …`: each adapter passes its runtime's file reading, environment,
 * upstream client and server start (`CliHost`).
 *
 * **Parser: `commander` (14, the line that supports Node 20; 15 needs Node 22.12).** Of the three
 * well-kept ones it is the one that refuses by itself what an operator mistypes: an unknown option
 * or command, a missing or extra argument, a value outside `choices` — each with a "did you mean"
 * and the command's usage, which is what `nginx -t`-style scripting needs (exit 2, never a silent
 * default). `cac` lets a default command swallow unknown commands and treats unknown flags as
 * values unless each command opts in; `citty` passes unknown flags through to `args`. commander
 * has no dependencies, works on Node, Bun and Deno (node: built-ins only), and its help, version
 * and errors can be routed through our own output and exit code (`configureOutput`, `exitOverride`).
 *
 * Heavy or Node-only commands (`certs`: @peculiar/x509; `demo`: child processes; `import-nginx`)
 * are loaded only when run, so `serve` starts no faster or slower than before.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { loadStartConfig, type StartOptions } from '../config/cli.ts';
import { checkFeaturesFor, type RuntimeName } from '../config/features.ts';
import { ConfigError } from '../config/load.ts';
import { resolveFrom } from '../config/paths.ts';
import { sessionsWarnings } from '../config/sessions.ts';
import { configWarnings } from '../config/warnings.ts';
import type { ClientTimeouts, UpstreamClient } from '../forward/client.ts';
import { checkCommand } from './check.ts';
import { routeCommand } from './route.ts';
import { defaultConfigLine, sitesLine } from './start-lines.ts';

/** What an adapter hands the command line: its runtime's ways to read, write, connect and serve. */
export interface CliHost {
  runtime: RuntimeName;
  argv: readonly string[];
  env(name: string): string | undefined;
  readText(path: string): string;
  cwd(): string;
  /** The upstream client this runtime forwards with (`check --probe` connects through it). */
  client(timeouts: ClientTimeouts): UpstreamClient;
  /** Starts the router; returns once it listens (the process then lives on its servers). */
  serve(start: StartOptions): void | Promise<void>;
  exit(code: number): never;
}

/** Written straight to the streams; `console` would add nothing and hides EPIPE handling. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const RUNTIMES = ['node', 'bun', 'bun-node', 'deno', 'worker'] as const;
/** The npm scripts that run this command line (`npm run check -- --config x.json`). */
const NPM_SCRIPTS = new Set(['start', 'check', 'route', 'certs', 'demo', 'import-nginx']);

/** Usage errors, bad configs and failed checks: 2, as `nginx -t` does. */
export const EXIT_USAGE = 2;

export async function runCli(host: CliHost): Promise<void> {
  let serving = false;
  const output = processOutput(() => serving);
  const code = await runCommand(host, output, () => (serving = true));
  if (code !== undefined) host.exit(code);
}

/**
 * Parses and runs one command line. Resolves with the exit code, or undefined once `serve` has
 * started (the process then runs until a signal).
 */
export async function runCommand(host: CliHost, output: Output, onServe: () => void = () => {}): Promise<number | undefined> {
  let exitCode: number | undefined = 0;
  // `npm run X -- --config router.json` runs in the package folder: paths the user typed are
  // relative to where they typed them (INIT_CWD), as `npm run certs` has always taken them.
  const npmDir = NPM_SCRIPTS.has(host.env('npm_lifecycle_event') ?? '') ? host.env('INIT_CWD') : undefined;
  const userPath = (path: string): string => (npmDir ? resolveFrom(npmDir, path) : path);
  const configPath = (given: string | undefined): string => {
    const path = given ?? host.env('REGISTRY_ROUTER_CONFIG');
    if (!path) throw new UsageError('which config? give --config FILE (or REGISTRY_ROUTER_CONFIG=FILE)');
    return given ? userPath(path) : path;
  };

  const program = new Command('registry-router')
    .description(`${pkg.description}\n\nWithout a command: serve.`)
    .version(pkg.version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .showHelpAfterError(true)
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: output.out, writeErr: output.err });
  program.helpCommand('help [command]', 'show help for a command');

  program
    .command('serve')
    .summary('run the router (the default command)')
    .description(
      "run the router (the default command); REGISTRY_ROUTER_CONFIG=FILE stands for --config, PORT and HOST replace the first listener's port and address",
    )
    .option('--config <file>', 'the config file (JSON; comments and trailing commas allowed); default: the built-in config')
    .option('--quiet', 'no access log')
    .option('--workers <n>', 'serving processes on the same listeners: a number, or "auto" (one per CPU); overrides "workers" in the config', workersValue)
    .action(async (options: { config?: string; quiet?: boolean; workers?: number | 'auto' }) => {
      let start: StartOptions;
      try {
        start = loadStartConfig({ configPath: options.config && userPath(options.config), quiet: options.quiet }, host.env, host.readText);
        if (options.workers !== undefined) start = { ...start, config: { ...start.config, workers: options.workers } };
        checkFeaturesFor(host.runtime, start.config);
      } catch (error) {
        output.err(`${(error as Error).message}\n`);
        exitCode = EXIT_USAGE;
        return;
      }
      // The warnings check gives (sessions: workers that spread a client over processes without a shared store) too.
      for (const warning of [...configWarnings(start.config), ...sessionsWarnings(start.config, host.runtime)]) {
        output.err(`registry-router: warning: ${warning}\n`);
      }
      if (!options.config && !host.env('REGISTRY_ROUTER_CONFIG')) output.err(`${defaultConfigLine(npmDir ? 'npm run demo' : 'registry-router demo')}\n`);
      output.err(`${sitesLine(start.config)}\n`);
      onServe();
      exitCode = undefined;
      await host.serve(start);
    });

  program
    .command('check')
    .summary('validate a config like `nginx -t`; --probe tries every upstream')
    .description(
      'validate a config like `nginx -t`: every problem with its field, what the runtime cannot do, certificate files; ' +
        '--probe connects to every upstream. Exit 0 when fine, 2 when not',
    )
    .option('--config <file>', 'the config file (or REGISTRY_ROUTER_CONFIG)')
    .addOption(new Option('--runtime <runtime>', 'the runtime it will run on (default: this one)').choices(RUNTIMES))
    .option('--probe', 'also GET every upstream (its health path: /v2/ on docker sites) and say how each answers')
    .option('--workers <n>', 'as serve --workers: checks the config with this many serving processes (a number, or "auto")', workersValue)
    .action(async (options: { config?: string; runtime?: RuntimeName; probe?: boolean; workers?: number | 'auto' }) => {
      const ok = await checkCommand({
        path: configPath(options.config),
        runtime: options.runtime ?? host.runtime,
        probe: options.probe ?? false,
        workers: options.workers,
        readText: host.readText,
        // PORT as serve applies it: a check of what will run.
        env: host.env,
        client: host.client,
        output,
      });
      exitCode = ok ? 0 : EXIT_USAGE;
    });

  program
    .command('route')
    .summary('say where a request would go and why')
    .description(
      'say where a request would go: its site, the rule that matches (site rule or preset), the role, push-session effects, and the exact upstream URL',
    )
    .option('--config <file>', 'the config file (or REGISTRY_ROUTER_CONFIG)')
    .option('--accept <value>', "the request's Accept header (a docker pull's manifest HEAD lists several types and */*)")
    .argument('<method>', 'GET, HEAD, PUT, …')
    .argument('<url>', "the URL the client uses, e.g. http://idocker.io/v2/team/app/manifests/1.0 (a path alone: on the first site's first host)")
    .action((method: string, url: string, options: { config?: string; accept?: string }) => {
      exitCode = routeCommand({ path: configPath(options.config), method, url, accept: options.accept, readText: host.readText, output }) ? 0 : EXIT_USAGE;
    });

  program
    .command('certs')
    .summary('make a local CA and TLS certificates for the sites')
    .description('make a local CA (once) and one TLS certificate per site, and print the listen lines to paste')
    .option('--config <file>', 'the config whose sites get certificates (or REGISTRY_ROUTER_CONFIG)')
    .option('--out <dir>', 'where the CA and certificates go', 'certs')
    .addOption(new Option('--key <type>', 'key type').choices(['ec', 'rsa']).argParser(keyType).default('ec'))
    .option('--renew', 're-issue every site certificate now')
    .action(async (options: { config?: string; out: string; key: 'ec' | 'rsa'; renew?: boolean }) => {
      const { certsCommand } = await import('../certs/command.ts');
      // Absolute paths: the listen lines it prints are relative to the config file's folder.
      const base = npmDir ?? host.cwd();
      const config = options.config ?? host.env('REGISTRY_ROUTER_CONFIG');
      if (!config) throw new UsageError("which config? --config FILE is needed (its sites' hosts go into the certificates)");
      exitCode = await certsCommand(
        { configPath: resolveFrom(base, config), outDir: resolveFrom(base, options.out), keyType: options.key, renew: options.renew ?? false },
        output,
      );
    });

  program
    .command('import-nginx')
    .summary('translate an nginx config into a router config')
    .description(
      'translate an nginx config (the kind run in front of Nexus) into a router config: JSON on stdout or --out; ' +
        'what could not be carried over (file:line) and the deliberate changes on stderr',
    )
    .argument('<file>', 'the nginx config, e.g. /etc/nginx/nginx.conf')
    .option('--out <file>', 'write the JSON here instead of stdout')
    .option('--prefix <dir>', "nginx's folder that relative include paths start from (default: the file's folder)")
    .action(async (file: string, options: { out?: string; prefix?: string }) => {
      const { importNginxCommand } = await import('./import-nginx.ts');
      exitCode = importNginxCommand({
        file: userPath(file),
        out: options.out && userPath(options.out),
        prefix: options.prefix && userPath(options.prefix),
        output,
      });
    });

  program
    .command('demo')
    .summary('a local demo: two registries and the router, no Nexus needed')
    .description('a local demo without Nexus: two docker-registry processes as group and hosted, the router in front, its status page (needs docker-registry)')
    .option('--port <port>', "the router's port (0: any free one)", portNumber, 8080)
    .option('--admin-port <port>', "the status page's port", portNumber, 9090)
    .option('--group-port <port>', "the group registry's port", portNumber, 8082)
    .option('--hosted-port <port>', "the hosted registry's port", portNumber, 8083)
    .option('--quiet', 'no access log')
    .action(async (options: { port: number; adminPort: number; groupPort: number; hostedPort: number; quiet?: boolean }, command: Command) => {
      const { runDemo } = await import('../demo.ts');
      // A port typed on the command line must be that port; a busy default may move (the banner says so).
      const given = new Set(
        ['port', 'admin-port', 'group-port', 'hosted-port'].filter((flag) => {
          const key = flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
          return command.getOptionValueSource(key) === 'cli';
        }),
      );
      exitCode = undefined;
      onServe();
      await runDemo({ ...options, given });
    });

  const argv = [...host.argv];
  // No command: serve (`registry-router --config router.json`). `--help`/`--version` stay the program's.
  if (argv[0] === undefined || (argv[0].startsWith('-') && !['-h', '--help', '-V', '--version'].includes(argv[0]))) argv.unshift('serve');

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; commander has printed the error and the usage already.
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (error instanceof UsageError || error instanceof ConfigError) {
      output.err(`registry-router: ${error.message}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
  return exitCode;
}

class UsageError extends Error {}

/** `certs --key`: commander's choices, with the sentence `certs` has always said. */
function keyType(value: string): 'ec' | 'rsa' {
  if (value !== 'ec' && value !== 'rsa') throw new InvalidArgumentError('--key is "ec" (ECDSA P-256, the default) or "rsa" (RSA 2048)');
  return value;
}

/** `--workers`: as `"workers"` in the config (1 to 1024, or "auto"). */
function workersValue(value: string): number | 'auto' {
  if (value === 'auto') return value;
  const count = Number(value);
  if (!/^\d+$/.test(value) || count < 1 || count > 1024) throw new InvalidArgumentError('--workers is a whole number from 1 to 1024, or "auto" (one per CPU)');
  return count;
}

function portNumber(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new CommanderError(EXIT_USAGE, 'commander.invalidArgument', `error: "${value}" is not a port number`);
  return port;
}

/**
 * stdout and stderr of the process. A reader that goes away (`registry-router certs | head -1`)
 * makes further output to stdout go nowhere, quietly, instead of an EPIPE stack trace: the command
 * still ends with its own exit code. While serving, the access log stops and the router goes on.
 */
function processOutput(serving: () => boolean): Output {
  let closed = false;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    if (!closed && serving()) process.stderr.write('registry-router: stdout was closed (EPIPE): access log lines are dropped from now on\n');
    closed = true;
  });
  return {
    out: (text) => void (closed || process.stdout.write(text)),
    err: (text) => void process.stderr.write(text),
  };
}
