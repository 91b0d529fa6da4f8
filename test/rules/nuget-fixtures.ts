/**
 * The request lines Debian's `nuget` 2.8.7 (on Mono; a V2 client) sends to a NuGet site whose source is the
 * router's bare host, in the order test/e2e/nuget.test.ts runs them, with the role each belongs to and the path
 * hosted or the group gets. That suite checks on every run that what the stand-ins (test/support/nuget.ts)
 * logged through the router is exactly these lines (after the repository prefix). Every command first GETs the
 * source (nuget 2.8 follows a redirect of the source URL before anything else: the V2 service document):
 * - `nuget push X.nupkg -Source URL/` (and `-Source URL`, no slash: the same): `PUT /api/v2/package/`, multipart
 *   (part `package`), `X-NuGet-ApiKey`; hosted gets `PUT /` (its root: Nexus's push target);
 * - `nuget install RrHello -Version 1.0.0 -Source URL/ -NoCache`: the entry, `$metadata`, the dependency by
 *   `FindPackagesById()`, then each package from its entry's `content src` (`<id>/<version>`); quotes in the
 *   OData paths percent-encoded as Mono's Uri sends them;
 * - `nuget list Rr -AllVersions -Source URL/`: `$metadata`, `Search()`;
 * - `nuget delete RrHello 1.0.0 -Source URL/`: `DELETE /api/v2/package/RrHello/1.0.0`, hosted gets `/RrHello/1.0.0`.
 */
export interface NuGetFixture {
  method: string;
  /** The path and query as nuget sent them. */
  path: string;
  /** The path hosted gets when the router takes `/api/v2/package` off it; left out: `path`. */
  upstreamPath?: string;
  /** What ran, for messages. */
  command: string;
  expected: 'read' | 'write';
}

const PUSH = 'nuget push RrHello.1.0.0.nupkg -Source URL/ -ApiKey KEY';
const AGAIN = `${PUSH} (again: 400 from hosted)`;
const PUSH2 = 'nuget push RrHello.1.1.0.nupkg -Source URL -ApiKey KEY';
const INSTALL = 'nuget install RrHello -Version 1.0.0 -Source URL/ -NoCache';
const LIST = 'nuget list Rr -AllVersions -Source URL/';
const DELETE = 'nuget delete RrHello 1.0.0 -Source URL/ -ApiKey KEY';

export const NUGET_REQUESTS: readonly NuGetFixture[] = [
  { method: 'GET', path: '/', command: PUSH, expected: 'read' },
  { method: 'PUT', path: '/api/v2/package/', upstreamPath: '/', command: PUSH, expected: 'write' },
  { method: 'GET', path: '/', command: AGAIN, expected: 'read' },
  { method: 'PUT', path: '/api/v2/package/', upstreamPath: '/', command: AGAIN, expected: 'write' },
  { method: 'GET', path: '/', command: PUSH2, expected: 'read' },
  { method: 'PUT', path: '/api/v2/package/', upstreamPath: '/', command: PUSH2, expected: 'write' },
  { method: 'GET', path: '/', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/Packages(Id=%27RrHello%27,Version=%271.0.0%27)', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/$metadata', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/FindPackagesById()?id=%27RrDep%27', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/RrDep/2.0.0', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/RrHello/1.0.0', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/', command: LIST, expected: 'read' },
  { method: 'GET', path: '/$metadata', command: LIST, expected: 'read' },
  { method: 'GET', path: '/Search()?$orderby=Id&$skip=0&$top=30&searchTerm=%27Rr%27&targetFramework=%27%27', command: LIST, expected: 'read' },
  { method: 'GET', path: '/', command: DELETE, expected: 'read' },
  { method: 'DELETE', path: '/api/v2/package/RrHello/1.0.0', upstreamPath: '/RrHello/1.0.0', command: DELETE, expected: 'write' },
  { method: 'GET', path: '/', command: 'nuget push RrHello.1.1.0.nupkg -Source http://localhost:PORT/ (hosted down: nothing reaches it)', expected: 'read' },
];
