import type { Format } from './format.ts';

/** Maven (and Gradle's maven-publish): resolution, `mvn deploy` to releases or snapshots. */
export const maven: Format = {
  name: 'maven',
  title: 'Maven',
  errorFormat: 'plain',
  showsReasonPhrase: true,
  // Snapshots hosted is optional: without it, snapshot deploys go to the releases repository.
  optionalRoles: { snapshots: 'write' },
  health: { path: '/' },
  nginx: { repository: /^maven/i, adopt: false },
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
  sessions: {
    name: 'Maven deploy session',
    openedBy: 'an artifact upload (PUT) under that groupId/artifactId',
    opened: (subject, role) =>
      `that client's reads and writes of ${subject}'s maven-metadata.xml go to ${role}, where this deploy writes: mvn deploy reads the metadata, ` +
      'adds its version and writes it back, so it must read it from the repository it writes to, not from the group',
    followed: (to) => `a metadata read or write during a deploy goes where the deploy writes: ${to}`,
    otherwise: () => 'resolvers, other clients, and the first request of a deploy, which has no session yet',
  },
};
