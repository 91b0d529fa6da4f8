/**
 * What the real Maven client sends, request by request, captured by test/e2e/maven.test.ts (which
 * fails when mvn's sequence changes): Debian's Maven 3.8.7 (http wagon, resolver 1.6.3),
 * maven-deploy-plugin 3.0.0 `deploy:deploy-file` of a jar (POM generated) and
 * maven-dependency-plugin 3.5.0 `dependency:get`, in this order, by one client, seconds apart:
 *
 * 1. `release deploy`: com.example:app:1.0 (hosted has no metadata of the artifact yet).
 * 2. `snapshot deploy 1`: com.example:app:1.1-SNAPSHOT, first build.
 * 3. `snapshot deploy 2`: the same again (hosted now has both metadata files: mvn also GETs their .sha1).
 * 4. `resolve release`: com.example:app:1.0, jar only, checksum policy fail.
 *
 * `expected` is the role each request belongs to: `write` (releases hosted), `snapshots`
 * (snapshots hosted), `read` (the group). Timestamped snapshot names are those of the capture;
 * compare with `normalizeMavenPath`.
 *
 * One request cannot be told apart by the router alone: the first request of a snapshot deploy,
 * `GET <g>/<a>/<v>-SNAPSHOT/maven-metadata.xml`, comes before any PUT, so it opens no push session
 * of its own; a consumer resolving that snapshot sends the same request (and must reach the group).
 * It belongs to `snapshots`: the deploy takes its build number (and keeps the other
 * `<snapshotVersion>`s) from the answer, so an answer from the group carries other members' builds
 * into snapshots hosted, as MNG-3441 does for artifact-level metadata.
 */
export const MAVEN_REQUESTS: Array<{ step: string; method: string; path: string; expected: 'read' | 'write' | 'snapshots' }> = [
  { step: 'release deploy', method: 'PUT', path: '/com/example/app/1.0/app-1.0.jar', expected: 'write' },
  { step: 'release deploy', method: 'PUT', path: '/com/example/app/1.0/app-1.0.jar.sha1', expected: 'write' },
  { step: 'release deploy', method: 'PUT', path: '/com/example/app/1.0/app-1.0.jar.md5', expected: 'write' },
  { step: 'release deploy', method: 'PUT', path: '/com/example/app/1.0/app-1.0.pom', expected: 'write' },
  { step: 'release deploy', method: 'PUT', path: '/com/example/app/1.0/app-1.0.pom.sha1', expected: 'write' },
  { step: 'release deploy', method: 'PUT', path: '/com/example/app/1.0/app-1.0.pom.md5', expected: 'write' },
  { step: 'release deploy', method: 'GET', path: '/com/example/app/maven-metadata.xml', expected: 'write' },
  { step: 'release deploy', method: 'PUT', path: '/com/example/app/maven-metadata.xml', expected: 'write' },
  { step: 'release deploy', method: 'PUT', path: '/com/example/app/maven-metadata.xml.sha1', expected: 'write' },
  { step: 'release deploy', method: 'PUT', path: '/com/example/app/maven-metadata.xml.md5', expected: 'write' },
  { step: 'snapshot deploy 1', method: 'GET', path: '/com/example/app/1.1-SNAPSHOT/maven-metadata.xml', expected: 'snapshots' },
  { step: 'snapshot deploy 1', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/app-1.1-20261130.000825-1.jar', expected: 'snapshots' },
  { step: 'snapshot deploy 1', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/app-1.1-20261130.000825-1.jar.sha1', expected: 'snapshots' },
  { step: 'snapshot deploy 1', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/app-1.1-20261130.000825-1.jar.md5', expected: 'snapshots' },
  { step: 'snapshot deploy 1', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/app-1.1-20261130.000825-1.pom', expected: 'snapshots' },
  { step: 'snapshot deploy 1', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/app-1.1-20261130.000825-1.pom.sha1', expected: 'snapshots' },
  { step: 'snapshot deploy 1', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/app-1.1-20261130.000825-1.pom.md5', expected: 'snapshots' },
  { step: 'snapshot deploy 1', method: 'GET', path: '/com/example/app/maven-metadata.xml', expected: 'snapshots' },
  { step: 'snapshot deploy 1', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/maven-metadata.xml', expected: 'snapshots' },
  { step: 'snapshot deploy 1', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/maven-metadata.xml.sha1', expected: 'snapshots' },
  { step: 'snapshot deploy 1', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/maven-metadata.xml.md5', expected: 'snapshots' },
  { step: 'snapshot deploy 1', method: 'PUT', path: '/com/example/app/maven-metadata.xml', expected: 'snapshots' },
  { step: 'snapshot deploy 1', method: 'PUT', path: '/com/example/app/maven-metadata.xml.sha1', expected: 'snapshots' },
  { step: 'snapshot deploy 1', method: 'PUT', path: '/com/example/app/maven-metadata.xml.md5', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'GET', path: '/com/example/app/1.1-SNAPSHOT/maven-metadata.xml', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'GET', path: '/com/example/app/1.1-SNAPSHOT/maven-metadata.xml.sha1', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/app-1.1-20261130.000826-2.jar', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/app-1.1-20261130.000826-2.jar.sha1', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/app-1.1-20261130.000826-2.jar.md5', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/app-1.1-20261130.000826-2.pom', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/app-1.1-20261130.000826-2.pom.sha1', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/app-1.1-20261130.000826-2.pom.md5', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'GET', path: '/com/example/app/maven-metadata.xml', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'GET', path: '/com/example/app/maven-metadata.xml.sha1', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/maven-metadata.xml', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/maven-metadata.xml.sha1', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'PUT', path: '/com/example/app/1.1-SNAPSHOT/maven-metadata.xml.md5', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'PUT', path: '/com/example/app/maven-metadata.xml', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'PUT', path: '/com/example/app/maven-metadata.xml.sha1', expected: 'snapshots' },
  { step: 'snapshot deploy 2', method: 'PUT', path: '/com/example/app/maven-metadata.xml.md5', expected: 'snapshots' },
  { step: 'resolve release', method: 'GET', path: '/com/example/app/1.0/app-1.0.pom', expected: 'read' },
  { step: 'resolve release', method: 'GET', path: '/com/example/app/1.0/app-1.0.pom.sha1', expected: 'read' },
  { step: 'resolve release', method: 'GET', path: '/com/example/app/1.0/app-1.0.jar', expected: 'read' },
  { step: 'resolve release', method: 'GET', path: '/com/example/app/1.0/app-1.0.jar.sha1', expected: 'read' },
];

/** Snapshot timestamps (`20261130.000413-1`) replaced by `<timestamp>-1`, so captures of different runs compare equal. */
export function normalizeMavenPath(path: string): string {
  return path.replace(/\d{8}\.\d{6}-(\d+)/g, '<timestamp>-$1');
}
