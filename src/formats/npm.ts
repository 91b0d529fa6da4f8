import type { Format } from './format.ts';

/** The npm CLI (and pnpm, yarn): packuments, tarballs, publish, the account. */
export const npm: Format = {
  name: 'npm',
  title: 'npm',
  // npm prints `error` of a JSON error body.
  errorFormat: 'npm',
  optionalRoles: {},
  // The repository root is no npm API: any answer below 500 tells a live server (upstream/health.ts).
  health: { path: '/' },
  // Packuments are JSON.
  bodyUrls: ['json'],
  nginx: { repository: /^npm/i, adopt: false },
  rules: [
    // Audit is a POST but a read: Nexus answers it on proxy and group repositories only, and
    // `npm install` sends it by itself.
    { methods: ['POST'], path: '/-/npm/v1/security/**', to: 'read' },
    // `?write=true` says "I am about to write": the GET before unpublish and deprecate (its `_rev`
    // must be hosted's; older npm also sends it before owner changes and on `npm ping`).
    // Its packument's tarball URLs are mapped too: unpublish deletes the tarball at that URL.
    { query: { write: true }, to: 'write', mapUrls: true },
    // The account lives where tokens are issued and checked for writes.
    { path: '/-/whoami', to: 'write' },
    { path: '/-/v1/login**', to: 'write' },
    { path: '/-/user/**', to: 'write' },
    { path: '/-/npm/v1/user**', to: 'write' },
    { path: '/-/npm/v1/tokens**', to: 'write' },
    { path: '/-/org/**', to: 'write' },
    { path: '/-/team/**', to: 'write' },
    // dist-tags are set on hosted; `dist-tag ls` asks the same place, so it sees what was set.
    { path: '/-/package/**', to: 'write' },
    // Packuments (`/<pkg>`, `/@scope%2fname`, `/@scope/name`): their tarball URLs name wherever the
    // registry thought it was (Nexus: its own /repository/<repo>/ path): mapped back.
    { methods: ['GET', 'HEAD'], path: '/*', to: 'read', mapUrls: true },
    { methods: ['GET', 'HEAD'], path: '/@*/*', to: 'read', mapUrls: true },
    // Tarballs, search, ping without ?write=true.
    { methods: ['GET', 'HEAD'], to: 'read' },
    // publish (PUT /<pkg>), unpublish and deprecate (PUT /<pkg>/-rev/<rev>, DELETE), owner changes.
    { to: 'write' },
  ],
};
