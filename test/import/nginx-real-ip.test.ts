/**
 * import-nginx carries nginx's real_ip module and `listen … proxy_protocol` over (issue 21):
 * `set_real_ip_from` → `realIp.from`, `real_ip_header` → `realIp.header` (proxy_protocol →
 * the listeners' `proxyProtocol`), `real_ip_recursive` → `realIp.recursive`. Every configuration
 * here is first checked by the real `nginx -t`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { importNginx } from '../../src/import/nginx.ts';

/** `servers` inside an http block, as nginx must accept it (throws with nginx's [emerg] line otherwise). */
function nginxChecked(http: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'import-real-ip-'));
  const text = `pid ${dir}/pid;\nevents {}\nhttp {\n  access_log ${dir}/access.log;\n${http}\n}\n`;
  try {
    writeFileSync(join(dir, 'nginx.conf'), text);
    execFileSync('nginx', ['-t', '-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return text;
}

const server = (listen: string, inside = '') => `
  server {
    ${listen}
    server_name registry.example.com;
    ${inside}
    location / { proxy_pass http://127.0.0.1:8081; }
  }`;

const imported = (http: string) => {
  const result = importNginx(nginxChecked(http), 'nginx.conf');
  // Whatever it writes, the router must accept.
  parseConfig(result.config, 'imported.json');
  return result;
};
const why = (result: ReturnType<typeof importNginx>, directive: string) =>
  result.untranslated.filter((u) => u.directive.startsWith(directive)).map((u) => u.why);

describe('import-nginx: the client address behind a balancer', () => {
  it('set_real_ip_from (IPv4, IPv6, one address), real_ip_header X-Forwarded-For, real_ip_recursive on → realIp', () => {
    const result = imported(`
  set_real_ip_from 10.0.0.0/8;
  set_real_ip_from 2001:db8::/32;
  real_ip_header X-Forwarded-For;
  real_ip_recursive on;
${server('listen 80;', 'set_real_ip_from 127.0.0.1;')}`);
    expect(result.config.realIp).toEqual({ from: ['10.0.0.0/8', '2001:db8::/32', '127.0.0.1'], header: 'X-Forwarded-For', recursive: true });
    expect(result.untranslated).toEqual([]);
    expect(result.changed.some((note) => /→ "realIp": one for every site/.test(note))).toBe(true);
  });

  it("nginx's defaults made explicit: header X-Real-IP, recursive off", () => {
    const result = imported(server('listen 80;', 'set_real_ip_from 192.0.2.1;'));
    expect(result.config.realIp).toEqual({ from: ['192.0.2.1'], header: 'X-Real-IP', recursive: false });
  });

  it('listen … proxy_protocol with real_ip_header proxy_protocol → proxyProtocol on that listener only, no realIp, and the warning', () => {
    const result = imported(`
  set_real_ip_from 10.0.0.0/8;
  real_ip_header proxy_protocol;
${server('listen 80 proxy_protocol;\n    listen 8080;')}`);
    expect(result.config.listen).toEqual([
      { host: '0.0.0.0', port: 80, proxyProtocol: true },
      { host: '0.0.0.0', port: 8080 },
    ]);
    expect(result.config.realIp).toBeUndefined();
    expect(result.untranslated).toEqual([]);
    expect(result.changed.some((note) => /real_ip_header proxy_protocol → "proxyProtocol": true.*10\.0\.0\.0\/8.*only your balancers/.test(note))).toBe(true);
  });

  it('listen … proxy_protocol alone: carried over, with the difference noted', () => {
    const result = imported(server('listen 127.0.0.1:8443 proxy_protocol;'));
    expect(result.config.listen).toEqual({ host: '127.0.0.1', port: 8443, proxyProtocol: true });
    expect(result.untranslated).toEqual([]);
    expect(result.changed.some((note) => /the router takes the PROXY header's address as the client/.test(note))).toBe(true);
  });

  it('what cannot be carried over is listed: another header, a Unix socket peer', () => {
    const result = imported(`
  set_real_ip_from unix:;
  set_real_ip_from 10.0.0.0/8;
  real_ip_header CF-Connecting-IP;
${server('listen 80;')}`);
    expect(result.config.realIp).toBeUndefined();
    expect(why(result, 'real_ip_header')).toEqual(["the router reads the client's address from X-Forwarded-For or X-Real-IP only"]);
    expect(why(result, 'set_real_ip_from unix:')).toEqual(['a Unix socket peer is not a TCP address']);
  });

  it('real_ip_header proxy_protocol without a proxy_protocol listener reads nothing', () => {
    const result = imported(`
  set_real_ip_from 10.0.0.0/8;
  real_ip_header proxy_protocol;
${server('listen 80;')}`);
    expect(result.config.realIp).toBeUndefined();
    expect(why(result, 'real_ip_header')).toEqual(['no listener has proxy_protocol: no PROXY header is read']);
  });
});
