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
/** The end of each "not carried" line about a proxy some server does not trust. */
const ONLY_COMMON = 'the router\'s one "realIp" trusts only the proxies every server trusts';
const why = (result: ReturnType<typeof importNginx>, directive: string) =>
  result.untranslated.filter((u) => u.directive.startsWith(directive)).map((u) => u.why);

describe('import-nginx: the client address behind a balancer', () => {
  it('set_real_ip_from (IPv4, IPv6, one address), real_ip_header X-Forwarded-For, real_ip_recursive on → realIp', () => {
    const result = imported(`
  set_real_ip_from 10.0.0.0/8;
  set_real_ip_from 2001:db8::/32;
  set_real_ip_from 127.0.0.1;
  real_ip_header X-Forwarded-For;
  real_ip_recursive on;
${server('listen 80;')}`);
    expect(result.config.realIp).toEqual({ from: ['10.0.0.0/8', '2001:db8::/32', '127.0.0.1'], header: 'X-Forwarded-For', recursive: true });
    expect(result.untranslated).toEqual([]);
    expect(result.changed.some((note) => /→ "realIp": one for every site/.test(note))).toBe(true);
  });

  it("a server's own set_real_ip_from replaces the http block's list (nginx's merge), header and recursive are inherited", () => {
    const result = imported(`
  set_real_ip_from 10.0.0.0/8;
  real_ip_header X-Forwarded-For;
  real_ip_recursive on;
${server('listen 80;', 'set_real_ip_from 127.0.0.1;')}`);
    expect(result.config.realIp).toEqual({ from: ['127.0.0.1'], header: 'X-Forwarded-For', recursive: true });
    expect(result.untranslated).toEqual([]);
  });

  it('servers that differ (nginx-ri3): http-level X-Forwarded-For for one, the PROXY header for a proxy_protocol one → realIp kept, the other named', () => {
    const result = imported(`
  set_real_ip_from 10.0.0.0/8;
  real_ip_header X-Forwarded-For;
  server { listen 80; server_name a.example.com; location / { proxy_pass http://127.0.0.1:8082; } }
  server { listen 81 proxy_protocol; server_name b.example.com; real_ip_header proxy_protocol; location / { proxy_pass http://127.0.0.1:8083; } }`);
    expect(result.config.realIp).toEqual({ from: ['10.0.0.0/8'], header: 'X-Forwarded-For', recursive: false });
    expect(result.config.listen).toEqual([
      { host: '0.0.0.0', port: 80 },
      { host: '0.0.0.0', port: 81, proxyProtocol: true },
    ]);
    expect(result.untranslated).toEqual([]);
    expect(result.changed).toContainEqual(
      expect.stringMatching(
        /"realIp" is for every site: server b\.example\.com read no X-Forwarded-For in nginx; the router believes it there too from 10\.0\.0\.0\/8/,
      ),
    );
    expect(result.changed).toContainEqual(expect.stringMatching(/real_ip_header proxy_protocol → "proxyProtocol": true.*10\.0\.0\.0\/8/));
  });

  it('servers reading different headers (nginx-ri4): no realIp rather than a guess, each listed with both settings', () => {
    const result = imported(`
  server { listen 80; server_name a.example.com; set_real_ip_from 10.0.0.0/8; real_ip_header X-Real-IP;
    location / { proxy_pass http://127.0.0.1:8082; } }
  server { listen 81; server_name b.example.com; set_real_ip_from 172.16.0.0/12; real_ip_header X-Forwarded-For;
    location / { proxy_pass http://127.0.0.1:8083; } }`);
    expect(result.config.realIp).toBeUndefined();
    const reasons = why(result, 'real_ip_header');
    expect(reasons).toHaveLength(2);
    for (const reason of reasons) {
      expect(reason).toContain('server a.example.com: X-Real-IP from 10.0.0.0/8; server b.example.com: X-Forwarded-For from 172.16.0.0/12');
      expect(reason).toMatch(/none carried over.*write "realIp" by hand/);
    }
    expect(why(result, 'set_real_ip_from')).toEqual(reasons);
  });

  it('same header, different proxies: only what every server trusts; the rest listed; recursive on only where all had it', () => {
    const result = imported(`
  real_ip_header X-Forwarded-For;
  server { listen 80; server_name a.example.com; real_ip_recursive on;
    set_real_ip_from 10.0.0.0/8;
    set_real_ip_from 192.168.0.0/16;
    location / { proxy_pass http://127.0.0.1:8082; } }
  server { listen 81; server_name b.example.com; set_real_ip_from 10.1.0.0/16; set_real_ip_from 10.2.0.1;
    location / { proxy_pass http://127.0.0.1:8083; } }`);
    expect(result.config.realIp).toEqual({ from: ['10.1.0.0/16', '10.2.0.1'], header: 'X-Forwarded-For', recursive: false });
    expect(why(result, 'set_real_ip_from 10.0.0.0/8')).toEqual([
      `server a.example.com trusts 10.0.0.0/8, server b.example.com only 10.1.0.0/16, 10.2.0.1 of it: ${ONLY_COMMON} (10.1.0.0/16, 10.2.0.1)`,
    ]);
    expect(why(result, 'set_real_ip_from 192.168.0.0/16')).toEqual([
      `server a.example.com trusts 192.168.0.0/16, server b.example.com none of it: ${ONLY_COMMON} (10.1.0.0/16, 10.2.0.1)`,
    ]);
    expect(why(result, 'real_ip_recursive')).toEqual([
      'real_ip_recursive on here, off in server b.example.com: the router\'s one "realIp" takes "recursive": false (the header\'s last address)',
    ]);
    expect(result.untranslated).toHaveLength(3);
  });

  it('proxies no two servers share: no realIp, every set_real_ip_from listed', () => {
    const result = imported(`
  real_ip_header X-Forwarded-For;
${server('listen 80;', 'set_real_ip_from 10.0.0.0/8;')}
${server('listen 81;', 'set_real_ip_from 172.16.0.0/12;').replace('registry.example.com', 'other.example.com')}`);
    expect(result.config.realIp).toBeUndefined();
    expect(why(result, 'real_ip_header')).toEqual(['no proxy is trusted by every server: no "realIp" carried over']);
    expect(why(result, 'set_real_ip_from')).toEqual([
      `server registry.example.com trusts 10.0.0.0/8, server other.example.com none of it: ${ONLY_COMMON}`,
      `server other.example.com trusts 172.16.0.0/12, server registry.example.com none of it: ${ONLY_COMMON}`,
    ]);
  });

  it("a location's own settings count as a block of their own", () => {
    const result = imported(`
  real_ip_header X-Forwarded-For;
  server {
    listen 80;
    server_name registry.example.com;
    set_real_ip_from 10.0.0.0/8;
    location / { proxy_pass http://127.0.0.1:8081; }
    location /v2/ { set_real_ip_from 10.9.0.0/16; proxy_pass http://127.0.0.1:8082; }
  }`);
    expect(result.config.realIp).toEqual({ from: ['10.9.0.0/16'], header: 'X-Forwarded-For', recursive: false });
    expect(why(result, 'set_real_ip_from 10.0.0.0/8')).toEqual([
      `server registry.example.com trusts 10.0.0.0/8, server registry.example.com location /v2/ only 10.9.0.0/16 of it: ${ONLY_COMMON} (10.9.0.0/16)`,
    ]);
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
