/**
 * `bun run src/node.ts serve`: which server the Node entry uses under Bun. Bun.serve
 * (src/adapter/bun/serve.ts) is the faster one, but it always writes the standard reason phrase.
 * Where a site's clients show the phrase to their user (Maven, PyPI: Nexus's `400 File already
 * exists` is the only message twine and mvn print) and every listener is plain HTTP, the Node
 * adapter's own server runs instead (Bun's node:http keeps `statusMessage`). TLS listeners stay on
 * Bun.serve: Bun's node:https has neither SNI (`SNICallback` is ignored) nor `setSecureContext`
 * (measured on Bun 1.4.5), so it could serve one certificate and never reload it.
 */
import type { StartOptions } from '../../config/cli.ts';
import { workerCount } from '../../config/workers.ts';
import { presets } from '../../rules/presets.ts';
import { workerRole } from '../workers-role.ts';
import { serveNode } from './serve.ts';

/**
 * Which server `bun run src/node.ts` uses for `config`, and why (a sentence for the log, empty when nothing
 * is lost): `node:http` when a site's format shows reason phrases (presets' `showsReasonPhrase`) and no
 * listener is TLS; `Bun.serve` otherwise.
 */
export function bunServerFor(config: StartOptions['config']): { kind: 'node:http' | 'Bun.serve'; why: string } {
  const showing = config.sites.filter((site) => presets[site.preset].showsReasonPhrase).map((site) => site.name);
  if (showing.length === 0) return { kind: 'Bun.serve', why: '' };
  const sites = `site${showing.length > 1 ? 's' : ''} ${showing.join(', ')}`;
  // Workers share their listeners with reusePort, which Bun's node:http does not take (EADDRINUSE, Bun 1.4.5).
  if (workerCount(config) > 1) {
    return {
      kind: 'Bun.serve',
      why:
        `which sends the standard reason phrase: the clients of ${sites} will not see Nexus's own; with "workers" each worker listens ` +
        "with reusePort, which Bun's node:http lacks — run Node (node dist/node.mjs) to keep the phrase",
    };
  }
  if (config.listen.some((entry) => entry.certs.length > 0)) {
    return {
      kind: 'Bun.serve',
      why:
        `which sends the standard reason phrase: the clients of ${sites} will not see Nexus's own (e.g. "File already exists"); ` +
        `Bun's node:https cannot serve several certificates or reload them, so TLS listeners stay here ` +
        `— run Node (node dist/node.mjs) to keep the phrase behind TLS`,
    };
  }
  return { kind: 'node:http', why: `which keeps the upstream's reason phrase that the clients of ${sites} show` };
}

/** `serve` of the Node entry under Bun: says which server it chose (when something is lost or kept), then starts it. */
export async function serveOnBun(start: StartOptions): Promise<void> {
  const server = bunServerFor(start.config);
  if (server.kind === 'node:http') {
    console.error(`registry-router on Bun: serving through node:http, ${server.why}`);
    return serveNode(start);
  }
  // Said once: by the only process, or by the first of several workers.
  if (server.why && (workerRole()?.id ?? 1) === 1) console.error(`registry-router on Bun: serving through Bun.serve, ${server.why}`);
  // Loaded only under Bun: Node never evaluates the Bun.serve module (esbuild bundles it lazily).
  return (await import('../bun/serve.ts')).serveBun(start);
}
