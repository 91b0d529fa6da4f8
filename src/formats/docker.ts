import type { Format } from './format.ts';

/** docker, containerd, skopeo, podman: the registry API v2 under `/v2/`. */
export const docker: Format = {
  name: 'docker',
  title: 'docker',
  errorFormat: 'registry',
  optionalRoles: {},
  // `/v2/` answers 200, or 401 from a registry that wants login: both say "a registry is up here".
  health: { path: '/v2/', statuses: [200, 401] },
  apiPrefix: '/v2/',
  clientBootstrap: true,
  directUploads: true,
  rules: [
    // A push in progress: POST/PATCH/PUT, and GET of its progress, must all reach the same registry,
    // and the same server of a pool (upload state is per node); it opens the client's push session.
    { path: '/v2/**/blobs/uploads/**', to: 'write', pin: true, session: 'open' },
    // "Do you already have this layer?" asked during a push: the group may hold the blob while
    // hosted does not, and the push would then fail on the manifest ("blob unknown"). Pulls fetch
    // blobs with GET, so a HEAD here means a push has begun.
    { methods: ['HEAD'], path: '/v2/**/blobs/*', to: 'write', pin: true, session: 'open' },
    { methods: ['GET', 'HEAD'], path: '/v2/', to: 'ping' },
    { methods: ['GET', 'HEAD'], path: '/v2/token', to: 'token' },
    // A pull's resolve (containerd: every manifest type it reads, then */*) stays on the group even while
    // the same client pushes to that repository: a tag only the group serves must still be found.
    { methods: ['HEAD'], path: '/v2/**/manifests/*', accept: 'list', to: 'read' },
    // containerd asks "is this tag already there?" (HEAD, Accept: the one type it pushes, */*) before the
    // manifest PUT and skips the PUT when the answer carries its digest: inside a push session that
    // question goes to the write side. Only HEAD: a GET is a pull, and stays on the group.
    { methods: ['HEAD'], path: '/v2/**/manifests/*', to: 'read', session: 'follow' },
    { methods: ['GET'], path: '/v2/**/manifests/*', to: 'read' },
    { methods: ['GET'], path: '/v2/**/blobs/*', to: 'read' },
    { methods: ['GET'], path: '/v2/**/tags/list', to: 'read' },
    { methods: ['GET'], path: '/v2/_catalog', to: 'read' },
    { methods: ['GET', 'HEAD'], to: 'read' },
    // The manifest PUT ends a push: on the server that holds its blobs.
    { path: '/v2/**/manifests/*', to: 'write', pin: true },
    { path: '/v2/**/blobs/*', to: 'write', pin: true },
    { to: 'write' },
  ],
  sessions: {
    name: 'docker push session',
    openedBy: 'an upload or a blob HEAD of that repository',
    opened: (subject, role) =>
      `that client's manifest HEADs of ${subject} asking for one media type go to ${role}, pinned: ` +
      'containerd asks "is this tag there?" before its manifest PUT, ' +
      'and skips the PUT when the group already serves the tag',
    followed: (to) => `containerd's "is this tag there?" before its manifest PUT goes where the push writes: ${to}`,
    otherwise: (accept) =>
      'other clients, no push of this repository in progress' +
      (accept === undefined ? "; and a pull's HEAD, whose Accept lists several manifest types and */*: see --accept" : ''),
  },
};
