/**
 * The Node adapter's upstream client: on Node, bodiless GET/HEAD to http: upstreams through
 * src/forward/socket-client.ts (blobs read in 1 MiB pieces straight into the client's socket: half
 * the CPU per GiB of undici's path), everything else through undici (src/forward/undici-client.ts);
 * under Deno undici alone (this client was built and measured on Node's sockets); under Bun, whose node:http emulation
 * has no undici underneath, Bun's fetch, which passes bytes through with `decompress: false`
 * (src/adapter/bun/client.ts). On Node, WebAssembly (undici's parser) stays on its baseline compiler
 * (src/forward/wasm-tiering.ts).
 */
import type { ClientTimeouts, UpstreamClient } from '../../forward/client.ts';
import { socketClient } from '../../forward/socket-client.ts';
import { undiciClient } from '../../forward/undici-client.ts';
import { keepWasmOnBaseline } from '../../forward/wasm-tiering.ts';
import { bunClient } from '../bun/client.ts';

/** `timeouts` in seconds as in the config. */
export function nodeClient(timeouts: ClientTimeouts): UpstreamClient {
  if (process.versions.bun) return bunClient(timeouts);
  if (process.versions.deno) return undiciClient(timeouts);
  // undici's parser stays on Liftoff: its TurboFan compilation was the RSS spike of the first upload (wasm-tiering.ts).
  keepWasmOnBaseline();
  return socketClient(timeouts, undiciClient(timeouts));
}
