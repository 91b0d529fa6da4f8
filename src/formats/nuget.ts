import type { BodyToAmend, Format } from './format.ts';

/** The V2 service endpoint a NuGet client appends to a source that has no path (NuGet.Client `PackageUpdateResource`; nuget 2.8.7 too). */
export const NUGET_SERVICE_ENDPOINT = '/api/v2/package';

/**
 * Nexus NuGet repositories (V2 OData and V3 JSON, one repository serves both):
 * - push: `PUT` multipart/form-data (part `package`; chunked since NuGet 3.5, NuGet/NuGet.Client#436) with
 *   `X-NuGet-ApiKey`. Nexus takes it at the hosted repository's root (NuGet/Home#6148: `PUT
 *   …/repository/<repo>/`). A client whose source is the router's bare host (`-Source https://nuget.example.com/`)
 *   appends the service endpoint and sends `PUT /api/v2/package/` (measured: Debian's nuget 2.8.7), so that
 *   prefix is stripped on the way to hosted;
 * - delete: `DELETE <source>/<id>/<version>`, from a bare host `DELETE /api/v2/package/<id>/<version>`;
 * - reads, all from the group: the V2 service document (`GET /`), `$metadata`, `Packages()`,
 *   `FindPackagesById()`, `Search()`, downloads at `<id>/<version>` (Nexus's V2 `content src`), the V3 service
 *   index `index.json` (no `/v3/` in its path: fsprojects/Paket#3806) and its `v3/…` resources
 *   (`v3/content/`, `v3/registration/`, `v3/query/…`: sonatype/nexus-public#712).
 * Both protocols answer absolute URLs: Atom's `xml:base`, entry `<id>`, `<content src>` and links, every `@id`
 * and URL of the V3 documents. Those under an upstream are mapped to the router's name, the rest of each URL
 * (query, `{id-lower}` templates, `#page` fragments) kept byte for byte (passes/body-urls.ts). A service index
 * without a `PackagePublish/2.0.0` resource gets one naming the router's push URL (`amendBody`), or `dotnet
 * nuget push` to the group's index fails ("source does not support publishing").
 */
export const nuget: Format = {
  name: 'nuget',
  title: 'NuGet',
  // nuget prints only the status line's reason phrase of a refused push or delete ("Failed to process request.
  // '<phrase>'."; measured: nuget 2.8.7), never the body: the router's own errors carry their message there too.
  errorFormat: 'phrase',
  showsReasonPhrase: true,
  optionalRoles: {},
  // The repository root: the V2 service document, which every V2 client GETs first (200), or 401 when
  // anonymous reads are off. Not index.json: a group mixing V2 and V3 members answers it 502 (nexus-public#667).
  health: { path: '/', statuses: [200, 401] },
  bodyUrls: ['xml', 'json'],
  amendBody: {
    words: 'a V3 service index (index.json) without a PackagePublish resource gets one naming this router (/api/v2/package/)',
    // Nexus serves a repository's V3 service index at its root, `<repository>/index.json` (fsprojects/Paket#3806).
    paths: /^\/index\.json$/i,
    amend: addPackagePublish,
  },
  nginx: {
    repository: /^nuget/i,
    adopt: true,
    adoptNote:
      'PUT and DELETE go to hosted, with /api/v2/package (the push URL of a source without a path) taken off the path; ' +
      'every other request goes to the group, and URLs in its V2 (Atom) and V3 (JSON) answers are mapped to the public name',
    otherMethodsNoted: true,
    // `location /api/v2/package { proxy_pass http://nexus:8081/repository/nuget-hosted/; }` beside `location / { … nuget-group/; }`:
    // the push location names hosted, and the first rules do what it did.
    writePaths: [{ path: NUGET_SERVICE_ENDPOINT, strip: true }],
  },
  rules: [
    // nuget push / delete with the bare host as source: to hosted's root, the prefix taken off.
    { methods: ['PUT'], path: NUGET_SERVICE_ENDPOINT, to: 'write', stripPrefix: NUGET_SERVICE_ENDPOINT },
    { methods: ['PUT', 'DELETE'], path: `${NUGET_SERVICE_ENDPOINT}/**`, to: 'write', stripPrefix: NUGET_SERVICE_ENDPOINT },
    // The same with a source that names the repository (`PUT /`, `DELETE /<id>/<version>`), or a V3 push URL.
    { methods: ['PUT', 'DELETE'], to: 'write' },
    // A download at nuget.org's V2 URL (`/api/v2/package/<id>/<version>`, which scripts and some clients build
    // themselves; nuget 2.8.7 follows the feed's `content src` instead): Nexus serves V2 downloads at
    // `<repository>/<id>/<version>`, so the group gets that, as DELETE on the same path reaches hosted's.
    { methods: ['GET', 'HEAD'], path: `${NUGET_SERVICE_ENDPOINT}/*/*`, to: 'read', stripPrefix: NUGET_SERVICE_ENDPOINT },
    // Package files carry no URLs: streamed as they are (V3 flat container, V2 `<id>/<version>`).
    { methods: ['GET', 'HEAD'], path: '/**.nupkg', to: 'read' },
    { methods: ['GET', 'HEAD'], path: '/*/*', to: 'read' },
    // Feeds, service documents, registrations, search: their absolute URLs mapped (XML or JSON answers only; a
    // HEAD's length is then left out, as the mapped GET's may differ).
    { methods: ['GET', 'HEAD'], to: 'read', mapUrls: true },
    // Anything else (no NuGet client sends it) reads the group.
    { to: 'read' },
  ],
  roleWords: {
    read: 'the NuGet group repository: feeds (V2 and V3), search and package downloads',
    write: 'the NuGet hosted repository: nuget push (PUT) and nuget delete (DELETE)',
  },
};

/**
 * A V3 service index (`{ "version": "3…", "resources": [...] }`, NuGet's service-index docs) without a
 * `PackagePublish/2.0.0` resource gets one whose `@id` is the router's push URL (`<public>/api/v2/package/`,
 * which the rules above send to hosted's root): `dotnet nuget push` reads the push URL from there. Any other
 * answer: undefined (left as it is). The text is edited, not re-serialised, so everything else stays byte for byte.
 */
function addPackagePublish({ kind, text, publicBase }: BodyToAmend): string | undefined {
  if (kind !== 'json' || !text.includes('"resources"')) return undefined;
  let index: unknown;
  try {
    index = JSON.parse(text);
  } catch {
    return undefined;
  }
  const resources = (index as { version?: unknown; resources?: unknown }).resources;
  if (typeof (index as { version?: unknown }).version !== 'string' || !Array.isArray(resources)) return undefined;
  const types = resources.flatMap((resource) => [(resource as { '@type'?: unknown })?.['@type']].flat());
  if (types.some((type) => typeof type === 'string' && type.startsWith('PackagePublish/'))) return undefined;
  const entry = JSON.stringify({
    '@id': `${publicBase}${NUGET_SERVICE_ENDPOINT}/`,
    '@type': 'PackagePublish/2.0.0',
    comment: 'Push URL of the hosted repository, added by registry-router',
  });
  // After the opening bracket of the (top-level) resources array: the first `"resources"` key's `[`.
  const at = /"resources"\s*:\s*\[/.exec(text);
  if (!at) return undefined;
  const end = at.index + at[0].length;
  const empty = /^\s*\]/.test(text.slice(end));
  const amended = `${text.slice(0, end)}${entry}${empty ? '' : ','}${text.slice(end)}`;
  // The first "resources" key was the top-level one only if the entry landed in the top-level array.
  const added = (JSON.parse(amended) as { resources: Array<{ '@type'?: unknown }> }).resources[0];
  return added?.['@type'] === 'PackagePublish/2.0.0' ? amended : undefined;
}
