/**
 * keepWasmOnBaseline (src/forward/wasm-tiering.ts): undici's WebAssembly parser is never recompiled
 * by TurboFan, whose compilation was the Node router's RSS spike on its first upload. Each case is
 * a fresh Node process (V8 fixes a module's tiering when it compiles it) making enough requests
 * through undici for V8 to tier its parser up, with V8 tracing every WebAssembly compilation.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { transform } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The module as plain JavaScript: a TypeScript loader in the child (tsx) compiles WebAssembly of its own first.
let dir: string;
let tiering: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'rr-wasm-tiering-'));
  tiering = path.join(dir, 'wasm-tiering.mjs');
  const { code } = await transform(await readFile('src/forward/wasm-tiering.ts', 'utf8'), { loader: 'ts', format: 'esm' });
  await writeFile(tiering, code);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** 3,000 small answers through undici in a child process; what V8 traced of its WebAssembly compilations. */
function compilations(baseline: boolean): Promise<string> {
  const script = `
    ${baseline ? `(await import(${JSON.stringify(tiering)})).keepWasmOnBaseline();` : ''}
    const { createServer } = await import('node:http');
    const { request } = await import('undici');
    const server = createServer((req, res) => res.end('{"schemaVersion":2}'));
    await new Promise((listening) => server.listen(0, '127.0.0.1', listening));
    const url = 'http://127.0.0.1:' + server.address().port + '/';
    for (let i = 0; i < 3000; i++) await (await request(url)).body.text();
    process.exit(0);
  `;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--trace-wasm-compilation-times', '--input-type=module', '-e', script],
      { maxBuffer: 64 * 1024 * 1024, cwd: process.cwd() },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout + stderr)),
    );
  });
}

describe('WebAssembly tiering on Node', () => {
  it('V8 recompiles undici parser with TurboFan by default (what the next case rules out)', async () => {
    expect(await compilations(false)).toMatch(/using TurboFan/);
  });

  it('keeps undici parser on Liftoff after keepWasmOnBaseline', async () => {
    const traced = await compilations(true);
    expect(traced).toMatch(/using Liftoff/);
    expect(traced).not.toMatch(/using TurboFan/);
  });
});
