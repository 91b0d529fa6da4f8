/**
 * The presets against what the real clients sent (fixtures captured by the e2e suites), replayed
 * in order through the whole app with a recording client: each request must reach the upstream of
 * the role it belongs to. In order, from one client, because push sessions (Maven's deploy
 * metadata) depend on what came before.
 */
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import type { OutgoingRequest, UpstreamClient } from '../../src/forward/client.ts';
import { MAVEN_REQUESTS } from './maven-fixtures.ts';
import { NPM_REQUESTS } from './npm-fixtures.ts';
import { NUGET_REQUESTS } from './nuget-fixtures.ts';
import { PYPI_REQUESTS } from './pypi-fixtures.ts';
import { RAW_REQUESTS } from './raw-fixtures.ts';
import { RUBYGEMS_REQUESTS } from './rubygems-fixtures.ts';
import { YUM_REQUESTS } from './yum-fixtures.ts';

const ROLES = {
  read: 'http://group.internal/repository/group/',
  write: 'http://hosted.internal/repository/hosted/',
  snapshots: 'http://snapshots.internal/repository/snapshots/',
};

/** The role whose upstream received each request, in order; `sent` (if given) collects the upstream URLs. */
async function replay(
  site: Record<string, unknown>,
  requests: ReadonlyArray<{ method: string; path: string; query?: string }>,
  sent?: string[],
): Promise<string[]> {
  const reached: string[] = [];
  const client: UpstreamClient = {
    async send(outgoing: OutgoingRequest) {
      await outgoing.body?.cancel();
      sent?.push(outgoing.url);
      const role = Object.entries(ROLES).find(([, prefix]) => outgoing.url.startsWith(prefix))?.[0] ?? outgoing.url;
      reached.push(role);
      return { status: 200, headers: new Headers({ 'content-type': 'text/plain' }), body: null };
    },
  };
  const config = parseConfig({ sites: [{ name: 'site', hosts: ['repo.test'], ...site }], accessLog: false } as ConfigInput);
  const app = createApp(config, { client, log: () => {}, clientAddress: () => '192.0.2.7' });
  try {
    for (const { method, path, query } of requests) {
      const body = method === 'GET' || method === 'HEAD' ? undefined : 'x';
      const before = reached.length;
      const response = await app.fetch(
        new Request(`http://repo.test${path}${query ? `?${query}` : ''}`, { method, body, headers: { host: 'repo.test', authorization: 'Basic dTpw' } }),
      );
      // Answered by the router itself (a deny rule): nothing reached an upstream.
      if (reached.length === before) reached.push(response.status === 405 ? 'deny' : `answered ${response.status} by the router`);
      await response.body?.cancel();
    }
  } finally {
    app.stop();
  }
  return reached;
}

describe('presets replayed against captured client requests', () => {
  it(`npm: ${NPM_REQUESTS.length} requests of the npm CLI reach the role they belong to`, async () => {
    const reached = await replay({ preset: 'npm', upstreams: { read: ROLES.read, write: ROLES.write } }, NPM_REQUESTS);
    expect(
      reached.map((role, i) => `${NPM_REQUESTS[i]!.method} ${NPM_REQUESTS[i]!.path}${NPM_REQUESTS[i]!.query ? `?${NPM_REQUESTS[i]!.query}` : ''} → ${role}`),
    ).toEqual(NPM_REQUESTS.map((r) => `${r.method} ${r.path}${r.query ? `?${r.query}` : ''} → ${r.expected}`));
  });

  it(`maven: ${MAVEN_REQUESTS.length} requests of mvn deploy and resolve reach releases, snapshots or the group`, async () => {
    const reached = await replay({ preset: 'maven', upstreams: ROLES }, MAVEN_REQUESTS);
    expect(reached.map((role, i) => `${MAVEN_REQUESTS[i]!.method} ${MAVEN_REQUESTS[i]!.path} → ${role}`)).toEqual(
      MAVEN_REQUESTS.map((r) => `${r.method} ${r.path} → ${r.expected}`),
    );
  });

  it('maven without a snapshots upstream: snapshot deploys go to write', async () => {
    const reached = await replay({ preset: 'maven', upstreams: { read: ROLES.read, write: ROLES.write } }, MAVEN_REQUESTS);
    expect(reached).toEqual(MAVEN_REQUESTS.map((r) => (r.expected === 'snapshots' ? 'write' : r.expected)));
  });

  it(`pypi: ${PYPI_REQUESTS.length} requests of twine and pip reach the role they belong to`, async () => {
    const reached = await replay({ preset: 'pypi', upstreams: { read: ROLES.read, write: ROLES.write } }, PYPI_REQUESTS);
    expect(reached).toEqual(PYPI_REQUESTS.map((r) => r.expected));
  });

  it(`raw: ${RAW_REQUESTS.length} requests of curl reach the group, hosted, or the router's 405`, async () => {
    const reached = await replay({ preset: 'raw', upstreams: { read: ROLES.read, write: ROLES.write } }, RAW_REQUESTS);
    const lines = (roles: string[]) => roles.map((role, i) => `${RAW_REQUESTS[i]!.method} ${RAW_REQUESTS[i]!.path} → ${role}`);
    expect(lines(reached)).toEqual(lines(RAW_REQUESTS.map((r) => r.expected)));
  });

  it(`rubygems: ${RUBYGEMS_REQUESTS.length} requests of gem and bundle reach the group, or hosted (push and yank, //api/v1/… too)`, async () => {
    const reached = await replay({ preset: 'rubygems', upstreams: { read: ROLES.read, write: ROLES.write } }, RUBYGEMS_REQUESTS);
    const lines = (roles: string[]) => roles.map((role, i) => `${RUBYGEMS_REQUESTS[i]!.method} ${RUBYGEMS_REQUESTS[i]!.path} → ${role}`);
    expect(lines(reached)).toEqual(lines(RUBYGEMS_REQUESTS.map((r) => r.expected)));
  });

  it(`nuget: ${NUGET_REQUESTS.length} requests of nuget 2.8.7 reach the group, or hosted's root for a push (/api/v2/package taken off)`, async () => {
    const sent: string[] = [];
    const reached = await replay({ preset: 'nuget', upstreams: { read: ROLES.read, write: ROLES.write } }, NUGET_REQUESTS, sent);
    const lines = (roles: string[]) => roles.map((role, i) => `${NUGET_REQUESTS[i]!.method} ${NUGET_REQUESTS[i]!.path} → ${role}`);
    expect(lines(reached)).toEqual(lines(NUGET_REQUESTS.map((r) => r.expected)));
    expect(sent).toEqual(NUGET_REQUESTS.map((r) => `${ROLES[r.expected].slice(0, -1)}${r.upstreamPath ?? r.path}`));
  });

  it(`yum: ${YUM_REQUESTS.length} requests of dnf and curl reach the group, hosted, or the router's 405`, async () => {
    const reached = await replay({ preset: 'yum', upstreams: { read: ROLES.read, write: ROLES.write } }, YUM_REQUESTS);
    const lines = (roles: string[]) => roles.map((role, i) => `${YUM_REQUESTS[i]!.method} ${YUM_REQUESTS[i]!.path} → ${role}`);
    expect(lines(reached)).toEqual(lines(YUM_REQUESTS.map((r) => r.expected)));
  });
});
