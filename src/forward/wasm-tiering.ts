import { setFlagsFromString } from 'node:v8';

/** The V8 flags that keep WebAssembly on its baseline compiler (Liftoff): no tier-up, dynamic or eager. */
export const BASELINE_WASM_FLAGS = ['--no-wasm-dynamic-tiering', '--no-wasm-tier-up'] as const;

/**
 * Keeps this process's WebAssembly on V8's baseline compiler, Liftoff, for undici's HTTP parser
 * (llhttp compiled to WebAssembly). Why: after a few answers V8 recompiles the parser's main loop
 * (one 34 KB function) with TurboFan on a background thread, which takes 0.3–0.6 s of a core and
 * 29 MiB of compiler memory at once (42 MiB allocated in all; `--trace-wasm-compilation-times`).
 * That memory is malloc'ed outside V8's heap and freed after the compilation: measured on Node
 * 20.20.2, it is the router's whole RSS spike during its first upload (idle ~85 MB, 125–134 MB for
 * that half second, 95–105 MB for the rest of 4 GiB), which set the Node row's peak RSS. The parser
 * reads only heads and chunk framing, and on Liftoff costs no measurable CPU: undici's client CPU per
 * request for a 528-byte answer, 4 alternations, 45.4 µs with TurboFan, 44.6 µs without.
 * Both flags, because Node 20's V8 tiers up dynamically unless dynamic tiering is off, and tiers
 * up every function eagerly when only that is off. Not `--liftoff-only`: V8 marks it "for testing",
 * and it forbids TurboFan even for a function Liftoff cannot compile (these two fall back to it).
 *
 * Must run before undici compiles its parser (its first connection): V8 fixes the tiering of a
 * module when compiling it. Runtimes without these flags (none known) ignore them: V8 says
 * "unrecognized flag" on stderr, nothing throws.
 */
export function keepWasmOnBaseline(): void {
  for (const flag of BASELINE_WASM_FLAGS) setFlagsFromString(flag);
}
