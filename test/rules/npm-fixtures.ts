/**
 * What the real npm CLI sends, captured request by request: npm 11.19.1 (the npm on this Node 20.20.2
 * machine) against a verdaccio 6.8.0 *hosted* registry at the root of http://127.0.0.1:<port>/, through
 * a logging proxy (test/support/verdaccio.ts), in this order: adduser, login (both auth types),
 * whoami, three publishes, view, install in a fresh project with a fresh cache (audit on), audit,
 * dist-tag add/ls/rm, deprecate, unpublish of one version, ping, owner ls/add/rm, search,
 * unpublish of a whole package, logout, adduser. npm ran with its own userconfig, globalconfig and
 * cache in temp folders, `--registry` the proxy, the update notifier off.
 *
 * `expected` is where each request belongs behind one hostname in front of Nexus (`read`: the
 * group, `write`: hosted): writes and the `?write=true` GETs that prepare them, the account (login,
 * users, tokens, whoami) and dist-tags → write; everything else, audit POSTs included → read.
 * Requests that are byte for byte the same (method, path, query and headers) get the same answer:
 * the router cannot tell them apart. `status` is what verdaccio answered (`npm owner add`'s PUT is
 * refused by verdaccio; `POST /-/v1/login` is not implemented there), `headers` the ones that tell
 * why npm sent it (none had a `referer`: npm 11 no longer sends one). Every request also carried
 * `user-agent: npm/11.19.1 node/v20.20.2 linux x64 workspaces/false`, and `authorization: Bearer …`
 * once logged in.
 *
 * Differences from what one might expect of npm (see each `note`):
 * - `npm ping` sends `GET /-/ping`, without `?write=true`.
 * - `npm publish` first reads the packument (`GET /<pkg>`, no `?write=true`; twice for a new package).
 * - `npm owner add`/`rm` read the packument without `?write=true`: the same request as `npm owner ls`.
 * - `npm dist-tag add`/`rm` first `GET /-/package/<pkg>/dist-tags`, the same request as `npm dist-tag ls`.
 * - `npm login` tries `POST /-/v1/login` (web login) first and falls back to
 *   `PUT /-/user/org.couchdb.user:<name>` on a 404; `--auth-type=legacy` goes straight to the PUT.
 * - `npm unpublish <pkg>@<v>` deletes the tarball at the path of `dist.tarball` in the `?write=true`
 *   packument, made relative to the registry URL (unencoded scope:
 *   `/@scope/name/-/name-<v>.tgz/-rev/<rev>`), and exits 0 when that DELETE answers 404
 *   (libnpmpublish swallows E404). Behind a path-prefixed Nexus, an unmapped `?write=true` packument
 *   makes it `DELETE /repository/<hosted>/@scope/name/-/…`, which 404s: the tarball stays.
 * - `npm-auth-type` is the `auth-type` setting (`web` unless given), not how the token was obtained.
 * - audit is `POST /-/npm/v1/security/advisories/bulk` only (gzip-encoded body); npm 11 never falls
 *   back to `/-/npm/v1/security/audits/quick`.
 * - scoped names are `@scope%2fname` (lowercase `%2f`) in packument, publish, unpublish and dist-tag
 *   paths, and `/@scope/name/-/…` in tarball paths (as the registry wrote them).
 */
export interface NpmRequestFixture {
  /** The npm command line (package and user names as captured). */
  command: string;
  method: string;
  /** Path as sent, percent-encoding kept. */
  path: string;
  /** Query string without `?`, as sent. */
  query?: string;
  expected: 'read' | 'write';
  /** verdaccio's answer when captured. */
  status: number;
  headers: {
    accept?: string;
    'content-type'?: string;
    'content-encoding'?: string;
    'npm-command'?: string;
    'npm-auth-type'?: string;
  };
  note?: string;
}

export const NPM_CAPTURED_WITH = { npm: '11.19.1', node: 'v20.20.2', registry: 'verdaccio 6.8.0' } as const;

export const NPM_REQUESTS: NpmRequestFixture[] = [
  {
    command: 'npm adduser --auth-type=legacy',
    method: 'PUT',
    path: '/-/user/org.couchdb.user:alice',
    expected: 'write',
    status: 201,
    headers: { accept: '*/*', 'content-type': 'application/json', 'npm-command': 'adduser', 'npm-auth-type': 'legacy' },
  },
  {
    command: 'npm login',
    method: 'POST',
    path: '/-/v1/login',
    expected: 'write',
    status: 404,
    headers: { accept: '*/*', 'content-type': 'application/json', 'npm-command': 'login', 'npm-auth-type': 'web' },
    note: 'web login first; verdaccio 6.8 answers 404 and npm falls back to the couch flow (prompts, then the PUT below)',
  },
  {
    command: 'npm login',
    method: 'PUT',
    path: '/-/user/org.couchdb.user:alice',
    expected: 'write',
    status: 201,
    headers: { accept: '*/*', 'content-type': 'application/json', 'npm-command': 'login', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm login --auth-type=legacy',
    method: 'PUT',
    path: '/-/user/org.couchdb.user:alice',
    expected: 'write',
    status: 201,
    headers: { accept: '*/*', 'content-type': 'application/json', 'npm-command': 'login', 'npm-auth-type': 'legacy' },
  },
  {
    command: 'npm whoami',
    method: 'GET',
    path: '/-/whoami',
    expected: 'write',
    status: 200,
    headers: { accept: '*/*', 'npm-command': 'whoami', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm publish (cap-big 1.0.0, 6 MiB tarball, new package)',
    method: 'GET',
    path: '/cap-big',
    expected: 'read',
    status: 404,
    headers: { accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*', 'npm-command': 'publish', 'npm-auth-type': 'web' },
    note: 'npm 11 reads the packument before publishing (highest version, for the default-tag check), without ?write=true',
  },
  {
    command: 'npm publish (cap-big 1.0.0, 6 MiB tarball, new package)',
    method: 'GET',
    path: '/cap-big',
    expected: 'read',
    status: 404,
    headers: { accept: 'application/json', 'npm-command': 'publish', 'npm-auth-type': 'web' },
    note: 'a new package: after the 404 above, npm asks again for the full document',
  },
  {
    command: 'npm publish (cap-big 1.0.0, 6 MiB tarball, new package)',
    method: 'PUT',
    path: '/cap-big',
    expected: 'write',
    status: 201,
    headers: { accept: '*/*', 'content-type': 'application/json', 'npm-command': 'publish', 'npm-auth-type': 'web' },
    note: 'body 8392438 bytes: the 6 MiB tarball base64-encoded in the JSON document',
  },
  {
    command: 'npm publish (@cap/scoped 1.0.0, new package)',
    method: 'GET',
    path: '/@cap%2fscoped',
    expected: 'read',
    status: 404,
    headers: { accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*', 'npm-command': 'publish', 'npm-auth-type': 'web' },
    note: 'npm 11 reads the packument before publishing (highest version, for the default-tag check), without ?write=true',
  },
  {
    command: 'npm publish (@cap/scoped 1.0.0, new package)',
    method: 'GET',
    path: '/@cap%2fscoped',
    expected: 'read',
    status: 404,
    headers: { accept: 'application/json', 'npm-command': 'publish', 'npm-auth-type': 'web' },
    note: 'a new package: after the 404 above, npm asks again for the full document',
  },
  {
    command: 'npm publish (@cap/scoped 1.0.0, new package)',
    method: 'PUT',
    path: '/@cap%2fscoped',
    expected: 'write',
    status: 201,
    headers: { accept: '*/*', 'content-type': 'application/json', 'npm-command': 'publish', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm publish (@cap/scoped 1.1.0)',
    method: 'GET',
    path: '/@cap%2fscoped',
    expected: 'read',
    status: 200,
    headers: { accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*', 'npm-command': 'publish', 'npm-auth-type': 'web' },
    note: 'npm 11 reads the packument before publishing (highest version, for the default-tag check), without ?write=true',
  },
  {
    command: 'npm publish (@cap/scoped 1.1.0)',
    method: 'PUT',
    path: '/@cap%2fscoped',
    expected: 'write',
    status: 201,
    headers: { accept: '*/*', 'content-type': 'application/json', 'npm-command': 'publish', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm view cap-big',
    method: 'GET',
    path: '/cap-big',
    expected: 'read',
    status: 200,
    headers: { accept: 'application/json', 'npm-command': 'view', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm view @cap/scoped version',
    method: 'GET',
    path: '/@cap%2fscoped',
    expected: 'read',
    status: 200,
    headers: { accept: 'application/json', 'npm-command': 'view', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm install cap-big @cap/scoped (fresh cache, audit on)',
    method: 'GET',
    path: '/cap-big',
    expected: 'read',
    status: 200,
    headers: { accept: 'application/json', 'npm-command': 'install', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm install cap-big @cap/scoped (fresh cache, audit on)',
    method: 'GET',
    path: '/@cap%2fscoped',
    expected: 'read',
    status: 200,
    headers: { accept: 'application/json', 'npm-command': 'install', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm install cap-big @cap/scoped (fresh cache, audit on)',
    method: 'POST',
    path: '/-/npm/v1/security/advisories/bulk',
    expected: 'read',
    status: 404,
    headers: { accept: '*/*', 'content-type': 'application/json', 'content-encoding': 'gzip', 'npm-command': 'install', 'npm-auth-type': 'web' },
    note: 'gzip-encoded JSON body; npm 11 sends only the bulk endpoint (no /audits/quick fallback); a failure does not fail `npm install`',
  },
  {
    command: 'npm install cap-big @cap/scoped (fresh cache, audit on)',
    method: 'GET',
    path: '/cap-big/-/cap-big-1.0.0.tgz',
    expected: 'read',
    status: 200,
    headers: { accept: '*/*', 'npm-command': 'install', 'npm-auth-type': 'web' },
    note: 'the tarball URL verdaccio wrote in the packument (scoped: /@scope/name/-/name-<v>.tgz)',
  },
  {
    command: 'npm install cap-big @cap/scoped (fresh cache, audit on)',
    method: 'GET',
    path: '/@cap/scoped/-/scoped-1.1.0.tgz',
    expected: 'read',
    status: 200,
    headers: { accept: '*/*', 'npm-command': 'install', 'npm-auth-type': 'web' },
    note: 'the tarball URL verdaccio wrote in the packument (scoped: /@scope/name/-/name-<v>.tgz)',
  },
  {
    command: 'npm audit',
    method: 'POST',
    path: '/-/npm/v1/security/advisories/bulk',
    expected: 'read',
    status: 404,
    headers: { accept: '*/*', 'content-type': 'application/json', 'content-encoding': 'gzip', 'npm-command': 'audit', 'npm-auth-type': 'web' },
    note: 'the request `npm install` sends; here a failure fails the command',
  },
  {
    command: 'npm dist-tag add @cap/scoped@1.0.0 stable',
    method: 'GET',
    path: '/-/package/@cap%2fscoped/dist-tags',
    expected: 'write',
    status: 200,
    headers: { accept: '*/*', 'npm-command': 'dist-tag', 'npm-auth-type': 'web' },
    note:
      'the same request for ls, add and rm (npm-command: dist-tag); ' +
      'add and rm decide from it whether to write ("already set", "not a dist-tag"), so it goes with the writes',
  },
  {
    command: 'npm dist-tag add @cap/scoped@1.0.0 stable',
    method: 'PUT',
    path: '/-/package/@cap%2fscoped/dist-tags/stable',
    expected: 'write',
    status: 201,
    headers: { accept: '*/*', 'content-type': 'application/json', 'npm-command': 'dist-tag', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm dist-tag ls @cap/scoped',
    method: 'GET',
    path: '/-/package/@cap%2fscoped/dist-tags',
    expected: 'write',
    status: 200,
    headers: { accept: '*/*', 'npm-command': 'dist-tag', 'npm-auth-type': 'web' },
    note:
      'the same request for ls, add and rm (npm-command: dist-tag); ' +
      'add and rm decide from it whether to write ("already set", "not a dist-tag"), so it goes with the writes',
  },
  {
    command: 'npm dist-tag rm @cap/scoped stable',
    method: 'GET',
    path: '/-/package/@cap%2fscoped/dist-tags',
    expected: 'write',
    status: 304,
    headers: { accept: '*/*', 'npm-command': 'dist-tag', 'npm-auth-type': 'web' },
    note:
      'the same request for ls, add and rm (npm-command: dist-tag); ' +
      'add and rm decide from it whether to write ("already set", "not a dist-tag"), so it goes with the writes',
  },
  {
    command: 'npm dist-tag rm @cap/scoped stable',
    method: 'DELETE',
    path: '/-/package/@cap%2fscoped/dist-tags/stable',
    expected: 'write',
    status: 201,
    headers: { accept: '*/*', 'npm-command': 'dist-tag', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm deprecate cap-big@1.0.0 "do not use"',
    method: 'GET',
    path: '/cap-big',
    query: 'write=true',
    expected: 'write',
    status: 200,
    headers: { accept: '*/*', 'npm-command': 'deprecate', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm deprecate cap-big@1.0.0 "do not use"',
    method: 'PUT',
    path: '/cap-big',
    expected: 'write',
    status: 201,
    headers: { accept: '*/*', 'content-type': 'application/json', 'npm-command': 'deprecate', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm unpublish @cap/scoped@1.0.0',
    method: 'GET',
    path: '/@cap%2fscoped',
    query: 'write=true',
    expected: 'write',
    status: 200,
    headers: { accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*', 'npm-command': 'unpublish', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm unpublish @cap/scoped@1.0.0',
    method: 'GET',
    path: '/@cap%2fscoped',
    query: 'write=true',
    expected: 'write',
    status: 200,
    headers: { accept: '*/*', 'npm-command': 'unpublish', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm unpublish @cap/scoped@1.0.0',
    method: 'PUT',
    path: '/@cap%2fscoped/-rev/8-628dba6dd63f5eb2',
    expected: 'write',
    status: 201,
    headers: { accept: '*/*', 'content-type': 'application/json', 'npm-command': 'unpublish', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm unpublish @cap/scoped@1.0.0',
    method: 'GET',
    path: '/@cap%2fscoped',
    query: 'write=true',
    expected: 'write',
    status: 200,
    headers: { accept: '*/*', 'npm-command': 'unpublish', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm unpublish @cap/scoped@1.0.0',
    method: 'DELETE',
    path: '/@cap/scoped/-/scoped-1.0.0.tgz/-rev/9-0249d7017babdfe5',
    expected: 'write',
    status: 201,
    headers: { accept: '*/*', 'npm-command': 'unpublish', 'npm-auth-type': 'web' },
    note: 'path = dist.tarball of the ?write=true packument, made relative to the registry URL (npm treats a 404 here as success and exits 0)',
  },
  {
    command: 'npm ping',
    method: 'GET',
    path: '/-/ping',
    expected: 'read',
    status: 200,
    headers: { accept: '*/*', 'npm-command': 'ping', 'npm-auth-type': 'web' },
    note: 'npm 11 sends no ?write=true',
  },
  {
    command: 'npm owner ls cap-big',
    method: 'GET',
    path: '/cap-big',
    expected: 'read',
    status: 200,
    headers: { accept: 'application/json', 'npm-command': 'owner', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm owner add bob cap-big',
    method: 'GET',
    path: '/-/user/org.couchdb.user:bob',
    expected: 'write',
    status: 200,
    headers: { accept: '*/*', 'npm-command': 'owner', 'npm-auth-type': 'web' },
    note: 'looks the new owner up',
  },
  {
    command: 'npm owner add bob cap-big',
    method: 'GET',
    path: '/cap-big',
    expected: 'read',
    status: 304,
    headers: { accept: 'application/json', 'npm-command': 'owner', 'npm-auth-type': 'web' },
    note: 'no ?write=true (unlike deprecate and unpublish): byte for byte the request of `npm owner ls`; its _rev and maintainers build the PUT',
  },
  {
    command: 'npm owner add bob cap-big',
    method: 'PUT',
    path: '/cap-big/-rev/4-f58f2254e723ec93',
    expected: 'write',
    status: 422,
    headers: { accept: '*/*', 'content-type': 'application/json', 'npm-command': 'owner', 'npm-auth-type': 'web' },
    note: 'verdaccio 6.8 refuses a maintainers-only update (422); the request is what npm sends',
  },
  {
    command: 'npm owner rm bob cap-big',
    method: 'GET',
    path: '/-/user/org.couchdb.user:bob',
    expected: 'write',
    status: 304,
    headers: { accept: '*/*', 'npm-command': 'owner', 'npm-auth-type': 'web' },
    note: 'looks the new owner up',
  },
  {
    command: 'npm owner rm bob cap-big',
    method: 'GET',
    path: '/cap-big',
    expected: 'read',
    status: 304,
    headers: { accept: 'application/json', 'npm-command': 'owner', 'npm-auth-type': 'web' },
    note: 'no ?write=true (unlike deprecate and unpublish): byte for byte the request of `npm owner ls`; its _rev and maintainers build the PUT',
  },
  {
    command: 'npm search cap',
    method: 'GET',
    path: '/-/v1/search',
    query: 'text=cap&size=20&from=0&quality=0.65&popularity=0.98&maintenance=0.5',
    expected: 'read',
    status: 200,
    headers: { accept: '*/*', 'npm-command': 'search', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm unpublish cap-big --force',
    method: 'GET',
    path: '/cap-big',
    query: 'write=true',
    expected: 'write',
    status: 200,
    headers: { accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*', 'npm-command': 'unpublish', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm unpublish cap-big --force',
    method: 'GET',
    path: '/cap-big',
    query: 'write=true',
    expected: 'write',
    status: 200,
    headers: { accept: '*/*', 'npm-command': 'unpublish', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm unpublish cap-big --force',
    method: 'DELETE',
    path: '/cap-big/-rev/4-f58f2254e723ec93',
    expected: 'write',
    status: 201,
    headers: { accept: '*/*', 'npm-command': 'unpublish', 'npm-auth-type': 'web' },
  },
  {
    command: 'npm logout',
    method: 'DELETE',
    path: '/-/user/token/NmIyYzBmOTRhMTU5Y2UwNzNmYzFiNjQ2YWQ3MTUwYzg6NTQzNWZhNjU1YTY1OGE4OTQwYmQ0YzljNTM0NmU2NjA2YWVhMzE%3D',
    expected: 'write',
    status: 200,
    headers: { accept: '*/*', 'npm-command': 'logout', 'npm-auth-type': 'web' },
    note: 'revokes the token npm holds',
  },
  {
    command: 'npm adduser',
    method: 'POST',
    path: '/-/v1/login',
    expected: 'write',
    status: 404,
    headers: { accept: '*/*', 'content-type': 'application/json', 'npm-command': 'adduser', 'npm-auth-type': 'web' },
    note: 'web login first; verdaccio 6.8 answers 404 and npm falls back to the couch flow (prompts, then the PUT below)',
  },
  {
    command: 'npm adduser',
    method: 'PUT',
    path: '/-/user/org.couchdb.user:carol',
    expected: 'write',
    status: 201,
    headers: { accept: '*/*', 'content-type': 'application/json', 'npm-command': 'adduser', 'npm-auth-type': 'web' },
  },
];
