/**
 * A download folder as nginx serves it (its default `index index.html`, the slash redirect) and as
 * the router serves it from the config `import-nginx` made of the same nginx file: the same
 * answers for the folder's URL with and without its slash, and for a file in it. nginx is the
 * real one (a single process on its own port, stopped by its PID).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import { importNginx } from '../../src/import/nginx.ts';
import { nodeFiles } from '../../src/local/node-files.ts';
import { NGINX_BIN } from '../support/maven.ts';
import { freePort } from '../support/ports.ts';

let dir: string;
let port: number;
let nginx: ChildProcess;
let serverBlock: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rr-static-index-'));
  mkdirSync(join(dir, 'srv', 'download'), { recursive: true });
  writeFileSync(join(dir, 'srv', 'download', 'index.html'), '<h1>downloads</h1>\n');
  writeFileSync(join(dir, 'srv', 'download', 'setup.sh'), '#!/bin/sh\n');
  port = await freePort();
  // The original set-up's download location (test/import/fixtures/original.conf), with a folder that has an index.html.
  serverBlock = [
    'server {',
    `    listen 127.0.0.1:${port};`,
    '    server_name repo.example.com;',
    '    location /download {',
    `        root ${dir}/srv;`,
    '    }',
    '    location / {',
    '        proxy_set_header Host $host;',
    '        proxy_pass http://127.0.0.1:9;',
    '    }',
    '}',
  ].join('\n');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => `${name}_temp_path ${dir}/${name};`).join(' ');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;\nmaster_process off;\npid ${dir}/nginx.pid;\nevents {}\nhttp {\n  access_log off;\n  ${temp}\n${serverBlock}\n}\n`,
  );
  nginx = spawn(NGINX_BIN, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !(await listening(port)); i++) await new Promise((r) => setTimeout(r, 50));
});

afterAll(async () => {
  if (nginx.exitCode === null && nginx.signalCode === null) {
    const exited = new Promise((done) => nginx.once('exit', done));
    nginx.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

function listening(at: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = net.connect(at, '127.0.0.1', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

interface Answer {
  status: number;
  /** The Location's path (nginx writes absolute redirects, the router relative ones). */
  location: string | null;
  body: string;
}

const answer = async (response: Response): Promise<Answer> => {
  const location = response.headers.get('location');
  return { status: response.status, location: location && new URL(location, 'http://x').pathname, body: response.status === 200 ? await response.text() : '' };
};

describe('a download folder with an index.html: nginx and the imported config answer alike', () => {
  it('/download → 301 /download/, /download/ → index.html, a file in it → the file', async () => {
    const imported = importNginx(serverBlock, join(dir, 'server.conf'));
    expect(imported.untranslated).toEqual([]);
    const app = createApp(parseConfig(imported.config), {
      client: { send: async () => ({ status: 502, headers: new Headers(), body: null }) },
      log: () => {},
      healthLog: () => {},
      files: nodeFiles,
    });
    for (const path of ['/download', '/download/', '/download/setup.sh']) {
      const fromNginx = await answer(await fetch(`http://127.0.0.1:${port}${path}`, { headers: { host: 'repo.example.com' }, redirect: 'manual' }));
      const fromRouter = await answer(await app.fetch(new Request(`http://repo.example.com${path}`, { headers: { host: 'repo.example.com' } })));
      expect(fromRouter, path).toEqual(fromNginx);
    }
    app.stop();
    expect(await answer(await fetch(`http://127.0.0.1:${port}/download/`, { headers: { host: 'repo.example.com' } }))).toEqual({
      status: 200,
      location: null,
      body: '<h1>downloads</h1>\n',
    });
  });
});
