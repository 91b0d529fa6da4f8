import { ConfigError } from './load.ts';
import type { Config } from './schema.ts';
import { isTls } from './serving.ts';

/** `bun-node` is the Node entry run by Bun (`bun run src/node.ts`): it serves through Bun.serve, as `bun` does. */
export type RuntimeName = 'node' | 'bun' | 'bun-node' | 'deno' | 'worker';

/** What each adapter can do with the parts of the config that are not plain proxying. */
interface Capabilities {
  /** Terminates TLS itself (listen entries with cert/key). */
  tls: boolean;
  /** Several certificates on one listener, picked by SNI. */
  sni: boolean;
  /** Has a file system for `static` folders, the CA file and the bootstrap script. */
  files: boolean;
}

export const CAPABILITIES: Readonly<Record<RuntimeName, Capabilities>> = {
  node: { tls: true, sni: true, files: true },
  // Bun.serve({ tls: [{ serverName, cert, key }, …] }) picks by SNI; src/node.ts serves through it too under Bun.
  bun: { tls: true, sni: true, files: true },
  'bun-node': { tls: true, sni: true, files: true },
  // Deno.serve({ cert, key }) takes one certificate per listener.
  deno: { tls: true, sni: false, files: true },
  // The edge terminates TLS; a worker has no file system.
  worker: { tls: false, sni: false, files: false },
};

/** Every part of `config` the runtime cannot honour, one line each, naming the field. Empty when all is well. */
export function featureProblems(runtime: RuntimeName, config: Config): string[] {
  const can = CAPABILITIES[runtime];
  const problems: string[] = [];
  config.listen.forEach((entry, i) => {
    if (entry.proxyProtocol && runtime === 'worker') {
      problems.push(
        `listen[${i}].proxyProtocol: a worker gets no TCP connection to read a PROXY header from (the platform names the client in CF-Connecting-IP); ` +
          'remove proxyProtocol',
      );
    }
    if (!isTls(entry)) return;
    if (!can.tls) {
      problems.push(
        `listen[${i}]: TLS listeners (cert/key) are not supported on ${runtime}: the platform terminates TLS ` +
          `in front of the worker (Cloudflare serves your certificate); remove cert/key/certs`,
      );
    } else if (!can.sni && entry.certs.length > 1) {
      problems.push(
        `listen[${i}].certs: ${runtime} serves one certificate per listener; ` +
          `give one cert/key pair (e.g. one certificate listing every host) or one listener per certificate`,
      );
    }
  });
  if (!can.files) {
    if (config.caCert !== undefined) {
      problems.push(
        `caCert: ${runtime} has no file system to read the CA from; serve the bootstrap script and ca.crt from a Node, Bun or Deno router, or remove caCert`,
      );
    }
    config.sites.forEach((site, i) => {
      if (site.static.length) {
        problems.push(`sites[${i}].static: ${runtime} has no file system to serve folders from; use the platform's static assets, or remove static`);
      }
    });
  }
  return problems;
}

/** Throws a ConfigError listing every problem: call it where the adapter checks its config, before serving. */
export function checkFeaturesFor(runtime: RuntimeName, config: Config): void {
  const problems = featureProblems(runtime, config);
  if (problems.length) throw new ConfigError(`this config asks for what ${runtime} cannot do:\n${problems.map((line) => `  ${line}`).join('\n')}`, problems);
}
