import type { RuleConfig } from '../config/schema.ts';
import type { ErrorFormat } from '../errors.ts';
import type { Role } from './rule.ts';

export type PresetName = 'docker' | 'npm' | 'maven' | 'pypi' | 'generic';

/**
 * A routing preset is data: ordered rules (first match wins, after the site's own), the format of
 * the errors the router writes for that client, and roles the rules may name that a site need not
 * configure (each with the role it falls back to). Besides roles, `to` may name `ping` and `token`,
 * which each docker site maps to read or write.
 */
export interface Preset {
  readonly rules: readonly RuleConfig[];
  readonly errorFormat: ErrorFormat;
  readonly optionalRoles: Readonly<Record<string, Role>>;
  /**
   * The format's clients show the status line's reason phrase to their user (mvn: `reason phrase: …`; twine:
   * the phrase on its own line), and Nexus puts its message there (`400 File already exists`). Servers that
   * cannot write the upstream's phrase (Bun.serve, Deno.serve) are avoided where they can be (src/node.ts).
   */
  readonly showsReasonPhrase?: true;
}

export const presets: Record<PresetName, Preset> = {
  generic: {
    errorFormat: 'plain',
    optionalRoles: {},
    rules: [
      { methods: ['GET', 'HEAD'], to: 'read' },
      { to: 'write' },
    ],
  },
  docker: {
    errorFormat: 'registry',
    optionalRoles: {},
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
  },
  npm: {
    // npm prints `error` of a JSON error body.
    errorFormat: 'npm',
    optionalRoles: {},
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
  },
  maven: {
    errorFormat: 'plain',
    showsReasonPhrase: true,
    // Snapshots hosted is optional: without it, snapshot deploys go to the releases repository.
    optionalRoles: { snapshots: 'write' },
    rules: [
      // Anything written under a `<version>-SNAPSHOT/` folder is a snapshot (Nexus's releases
      // repository refuses it with 400, and the other way round): it opens the client's deploy
      // session for `<g>/<a>`, which the artifact-level metadata below follows.
      { methods: ['PUT', 'POST', 'DELETE'], path: '/**/*-SNAPSHOT/*', to: 'snapshots', session: 'open' },
      // A deploy reads `<g>/<a>/maven-metadata.xml`, merges its version in and writes it back: read
      // from the group, it carries other members' versions into hosted (apache/maven MNG-3441).
      // Inside the client's deploy session both go to the deploy's target.
      // A snapshot deploy starts by reading the version's metadata (for its next build number):
      // inside the client's deploy session of `<g>/<a>` from snapshots, whatever the session's kind.
      // The very first deploy has no session yet and reads the group, as a resolver would.
      { methods: ['GET', 'HEAD'], path: '/**/*-SNAPSHOT/maven-metadata.xml**', to: 'read', session: 'follow', followTo: 'snapshots' },
      { methods: ['GET', 'HEAD'], path: '/**/maven-metadata.xml**', to: 'read', session: 'follow' },
      { methods: ['PUT'], path: '/**/maven-metadata.xml**', to: 'write', session: 'follow' },
      // Resolution: jars, poms, metadata, checksums.
      { methods: ['GET', 'HEAD'], to: 'read' },
      // A release artifact under `<g>/<a>/<version>/` opens the deploy session for `<g>/<a>`.
      { methods: ['PUT', 'POST', 'DELETE'], path: '/**/*/*', to: 'write', session: 'open' },
      { to: 'write' },
    ],
  },
  pypi: {
    errorFormat: 'plain',
    showsReasonPhrase: true,
    optionalRoles: {},
    rules: [
      // Index pages (PEP 503 HTML, PEP 691 JSON) and the JSON API: absolute file links that point
      // into an upstream are mapped to the public name; relative ones (`../../packages/…`) resolve
      // against the public URL by themselves.
      { methods: ['GET', 'HEAD'], path: '/simple/**', to: 'read', mapUrls: true },
      { methods: ['GET', 'HEAD'], path: '/pypi/**', to: 'read', mapUrls: true },
      // Files (`/packages/…`) and anything else read.
      { methods: ['GET', 'HEAD'], to: 'read' },
      // `twine upload`: a multipart POST to the repository root (`:action=file_upload`).
      { to: 'write' },
    ],
  },
};
