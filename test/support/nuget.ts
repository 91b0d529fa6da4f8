/**
 * Nexus NuGet repositories stood in for by one small in-process server (no NuGet server installs here),
 * laid out path-based as Nexus serves them, each repository on its own port:
 * - **hosted** (`http://127.0.0.1:H/repository/nuget-hosted/`): takes `PUT` of a multipart/form-data body
 *   (part `package`, the .nupkg) at its root with `X-NuGet-ApiKey` (Nexus's push target: NuGet/Home#6148
 *   shows `PUT …/repository/<repo>/`), stores the package (a second push of one version: 400 with Nexus's
 *   message as the reason phrase, as Nexus answers a duplicate: sonatype/nexus-public#463), deletes with
 *   `DELETE <id>/<version>` (204), and serves its packages;
 * - **group** (`…/repository/nuget-group/`): hosted's packages and a "proxy" member's; reads only (405).
 * Both serve, with every URL absolute under their own base as Nexus builds it (scheme and Host of the request):
 * - V2 (OData Atom): the service document at the root, `$metadata`, `Packages()`, `Packages(Id=…,Version=…)`,
 *   `FindPackagesById()`, `Search()` (a `next` link past `$top`), downloads at `<id>/<version>` (Nexus's
 *   download URL: `…/repository/<repo>/<Id>/<Version>`). The feed and entry shapes (`xml:base`, entry `<id>`,
 *   `edit`/`edit-media` links, `<content type="application/zip" src>`, `m:properties`) are those of OData V2
 *   NuGet feeds as posted in NuGet/Home#2532 and appveyor/website#622;
 * - V3 (JSON): `index.json` (no `/v3/` in its path: fsprojects/Paket#3806) with the resources Nexus 3.83's
 *   group lists (`v3/content/` PackageBaseAddress, `v3/query/0` SearchQueryService, `v3/registration/`
 *   RegistrationsBaseUrl: sonatype/nexus-public#712) and no PackagePublish, plus one resource whose `@id` names
 *   nuget.org (a proxy's index keeps some upstream `@id`s: bazel-contrib/rules_dotnet#371); registration
 *   indexes (NuGet's registration docs: `@id`, `items[].items[].catalogEntry`, `packageContent`,
 *   `registration`), the flat container (`v3/content/<id>/index.json`, `.nupkg`), and search.
 * Every request is logged (server, method, URI as received, API key); the router's health checks are left out.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { inflateRawSync } from 'node:zlib';
import { HEALTH_CHECK_AGENT } from './origin.ts';

export type NuGetServer = 'hosted' | 'group';

export interface NuGetRequest {
  server: NuGetServer;
  method: string;
  /** The path and query as received, the repository prefix included. */
  uri: string;
  status: number;
  apiKey: string;
  /** The body came chunked (no Content-Length). */
  chunked: boolean;
}

export interface NuGetPackage {
  id: string;
  version: string;
  bytes: Buffer;
  /** `RrDep:2.0.0` pairs joined by `|` (V2's `Dependencies` property). */
  dependencies: string;
  description: string;
  published: string;
}

export interface NuGetRepos {
  /** The repository URLs as a Nexus site names them, with their trailing slash. */
  hostedUrl: string;
  groupUrl: string;
  /** What hosted holds now, by `id/version` (lower case). */
  hosted: Map<string, NuGetPackage>;
  requests(): NuGetRequest[];
  destroy(): Promise<void>;
}

/** The nuspec of a .nupkg (a zip), read with the central directory: no unzip tool needed. */
export function nuspecOf(nupkg: Buffer): string {
  const eocd = nupkg.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('not a zip file');
  const count = nupkg.readUInt16LE(eocd + 10);
  let at = nupkg.readUInt32LE(eocd + 16);
  for (let i = 0; i < count; i++) {
    const method = nupkg.readUInt16LE(at + 10);
    const size = nupkg.readUInt32LE(at + 20);
    const nameLength = nupkg.readUInt16LE(at + 28);
    const skip = nameLength + nupkg.readUInt16LE(at + 30) + nupkg.readUInt16LE(at + 32);
    const name = nupkg.toString('utf8', at + 46, at + 46 + nameLength);
    const local = nupkg.readUInt32LE(at + 42);
    at += 46 + skip;
    if (name.includes('/') || !name.endsWith('.nuspec')) continue;
    const start = local + 30 + nupkg.readUInt16LE(local + 26) + nupkg.readUInt16LE(local + 28);
    const data = nupkg.subarray(start, start + size);
    return (method === 8 ? inflateRawSync(data) : data).toString('utf8');
  }
  throw new Error('no .nuspec at the root of the package');
}

/** id, version, description and dependencies of a .nupkg, from its nuspec. */
export function readPackage(bytes: Buffer): NuGetPackage {
  const nuspec = nuspecOf(bytes);
  const tag = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(nuspec)?.[1]?.trim() ?? '';
  const dependencies = [...nuspec.matchAll(/<dependency\s+id="([^"]+)"\s+version="([^"]+)"/g)].map((m) => `${m[1]}:${m[2]}`).join('|');
  return { id: tag('id'), version: tag('version'), bytes, dependencies, description: tag('description'), published: new Date().toISOString() };
}

const xml = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll("'", '&apos;').replaceAll('"', '&quot;');
const key = (id: string, version: string) => `${id.toLowerCase()}/${version.toLowerCase()}`;

/** Starts hosted and group; `proxy` are the packages of the group's "proxy" member; `apiKey` the key hosted takes. */
export async function startNuGetRepos(options: { proxy: Buffer[]; apiKey: string }): Promise<NuGetRepos> {
  const hosted = new Map<string, NuGetPackage>();
  const proxy = new Map(options.proxy.map((bytes) => readPackage(bytes)).map((p) => [key(p.id, p.version), p]));
  const log: NuGetRequest[] = [];

  const packagesOf = (server: NuGetServer): NuGetPackage[] => (server === 'hosted' ? [...hosted.values()] : [...hosted.values(), ...proxy.values()]);

  const serve = (server: NuGetServer) =>
    http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const uri = request.url ?? '';
        const answer = (status: number, body: string | Buffer, type: string, phrase?: string) => {
          if (request.headers['user-agent'] !== HEALTH_CHECK_AGENT) {
            const chunked = request.headers['transfer-encoding'] === 'chunked';
            log.push({ server, method: request.method ?? '', uri, status, apiKey: String(request.headers['x-nuget-apikey'] ?? ''), chunked });
          }
          const headers = body.length ? { 'content-type': type, 'content-length': Buffer.byteLength(body) } : {};
          if (phrase) response.writeHead(status, phrase, headers);
          else response.writeHead(status, headers);
          response.end(request.method === 'HEAD' ? undefined : body);
        };
        const prefix = `/repository/nuget-${server}/`;
        if (!uri.startsWith(prefix) && uri !== prefix.slice(0, -1)) return answer(404, 'Repository not found\n', 'text/plain');
        const url = new URL(uri, 'http://x');
        const path = decodeURIComponent(url.pathname.slice(prefix.length));
        const proto = String(request.headers['x-forwarded-proto'] ?? 'http');
        const base = `${proto}://${request.headers.host}${prefix}`;
        try {
          if (request.method === 'PUT' || request.method === 'DELETE') {
            if (server === 'group') return answer(405, '', '', 'Method Not Allowed');
            if (request.headers['x-nuget-apikey'] !== options.apiKey) return answer(401, '', '', 'Unauthorized');
            if (request.method === 'PUT' && path === '') return push(Buffer.concat(chunks), String(request.headers['content-type'] ?? ''));
            const [id, version, more] = path.split('/');
            if (request.method === 'DELETE' && id && version && more === undefined) {
              if (!hosted.delete(key(id, version))) return answer(404, '', '', `Package not found: ${id} ${version}`);
              return answer(204, '', '');
            }
            return answer(400, '', '', 'Bad Request');
          }
          if (request.method !== 'GET' && request.method !== 'HEAD') return answer(405, '', '', 'Method Not Allowed');
          return read(path, url.searchParams, base);
        } catch (error) {
          return answer(500, `${(error as Error).message}\n`, 'text/plain');
        }

        function push(body: Buffer, type: string) {
          const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(type);
          if (!boundary) return answer(400, '', '', 'Expected a multipart/form-data body');
          const mark = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
          const start = body.indexOf(mark);
          const headersEnd = body.indexOf('\r\n\r\n', start);
          const end = body.indexOf(mark, headersEnd);
          if (start < 0 || headersEnd < 0 || end < 0) return answer(400, '', '', 'Expected a multipart/form-data body');
          // nuget 2.8.7 on Mono ends the part with a bare LF before the closing boundary (measured), others with CRLF.
          const cut = body[end - 2] === 0x0d ? end - 2 : end - 1;
          const pkg = readPackage(body.subarray(headersEnd + 4, cut));
          if (hosted.has(key(pkg.id, pkg.version))) return answer(400, '', '', 'Repository does not allow updating assets: nuget-hosted');
          hosted.set(key(pkg.id, pkg.version), pkg);
          answer(201, '', '');
        }

        function read(path: string, query: URLSearchParams, base: string) {
          const all = packagesOf(server).sort((a, b) => a.id.localeCompare(b.id) || compareVersions(a.version, b.version));
          const atom = (text: string) => answer(200, text, 'application/atom+xml;charset=utf-8');
          const json = (value: unknown) => answer(200, JSON.stringify(value, null, 2), 'application/json');
          const quoted = (name: string) => /^'(.*)'$/.exec(query.get(name) ?? '')?.[1];
          if (path === '') return answer(200, serviceDocument(base), 'application/xml;charset=utf-8');
          if (path === '$metadata') return answer(200, METADATA, 'application/xml;charset=utf-8');
          const one = /^Packages\(Id='([^']*)',Version='([^']*)'\)$/.exec(path);
          if (one) {
            const pkg = all.find((p) => key(p.id, p.version) === key(one[1]!, one[2]!));
            return pkg ? atom(`<?xml version="1.0" encoding="utf-8"?>\n${entry(pkg, all, base, true)}`) : answer(404, '', '', 'Not Found');
          }
          if (path === 'Packages()' || path === 'Packages') {
            const filter = query.get('$filter') ?? '';
            const id = /tolower\(Id\) eq '([^']*)'/.exec(filter)?.[1];
            return atom(
              feed(
                'Packages',
                all.filter((p) => id === undefined || p.id.toLowerCase() === id.toLowerCase()),
                all,
                base,
                query,
              ),
            );
          }
          if (path === 'FindPackagesById()') {
            const id = quoted('id') ?? '';
            return atom(
              feed(
                'FindPackagesById',
                all.filter((p) => p.id.toLowerCase() === id.toLowerCase()),
                all,
                base,
                query,
              ),
            );
          }
          if (path === 'Search()') {
            const term = (quoted('searchTerm') ?? '').toLowerCase();
            const latestOnly = /IsLatestVersion|IsAbsoluteLatestVersion/.test(query.get('$filter') ?? '');
            const found = all.filter((p) => p.id.toLowerCase().includes(term) && (!latestOnly || isLatest(p, all)));
            return atom(feed('Search', found, all, base, query));
          }
          if (path === 'index.json') return json(serviceIndex(base));
          const registration = /^v3\/registration\/([^/]+)\/index\.json$/.exec(path);
          if (registration) {
            const versions = all.filter((p) => p.id.toLowerCase() === registration[1]!.toLowerCase());
            return versions.length ? json(registrationIndex(versions, base)) : answer(404, '', '', 'Not Found');
          }
          const flatIndex = /^v3\/content\/([^/]+)\/index\.json$/.exec(path);
          if (flatIndex) {
            const versions = all.filter((p) => p.id.toLowerCase() === flatIndex[1]!.toLowerCase());
            return versions.length ? json({ versions: versions.map((p) => p.version.toLowerCase()) }) : answer(404, '', '', 'Not Found');
          }
          if (/^v3\/query\/[^/]+$/.test(path)) {
            const term = (query.get('q') ?? '').toLowerCase();
            const ids = [...new Set(all.filter((p) => p.id.toLowerCase().includes(term)).map((p) => p.id))];
            return json({
              totalHits: ids.length,
              data: ids.map((id) => {
                const versions = all.filter((p) => p.id === id);
                return {
                  '@id': `${base}v3/registration/${id.toLowerCase()}/index.json`,
                  '@type': 'Package',
                  registration: `${base}v3/registration/${id.toLowerCase()}/index.json`,
                  id,
                  version: versions.at(-1)!.version,
                  versions: versions.map((p) => ({ version: p.version, downloads: 0, '@id': `${base}v3/registration/${id.toLowerCase()}/${p.version}.json` })),
                };
              }),
            });
          }
          const flatFile = /^v3\/content\/([^/]+)\/([^/]+)\/[^/]+\.nupkg$/.exec(path);
          const download = /^([^/]+)\/([^/]+)$/.exec(path);
          const wanted = flatFile ?? download;
          const pkg = wanted && all.find((p) => key(p.id, p.version) === key(wanted[1]!, wanted[2]!));
          if (pkg) return answer(200, pkg.bytes, 'application/zip');
          return answer(404, '', '', 'Not Found');
        }
      });
    });

  const servers = { hosted: serve('hosted'), group: serve('group') };
  const ports = {} as Record<NuGetServer, number>;
  for (const name of ['hosted', 'group'] as const) {
    await new Promise<void>((done) => servers[name].listen(0, '127.0.0.1', done));
    ports[name] = (servers[name].address() as net.AddressInfo).port;
  }
  return {
    hostedUrl: `http://127.0.0.1:${ports.hosted}/repository/nuget-hosted/`,
    groupUrl: `http://127.0.0.1:${ports.group}/repository/nuget-group/`,
    hosted,
    requests: () => [...log],
    async destroy() {
      for (const server of Object.values(servers)) {
        server.closeAllConnections();
        await new Promise((done) => server.close(done));
      }
    },
  };
}

function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const [x, y] = [pa[i] ?? 0, pb[i] ?? 0];
    if (x !== y) return typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
  }
  return 0;
}

const isLatest = (pkg: NuGetPackage, all: NuGetPackage[]): boolean =>
  all.filter((p) => p.id.toLowerCase() === pkg.id.toLowerCase()).every((p) => compareVersions(p.version, pkg.version) <= 0);

function serviceDocument(base: string): string {
  return (
    '<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n' +
    `<service xml:base="${xml(base)}" xmlns="http://www.w3.org/2007/app" xmlns:atom="http://www.w3.org/2005/Atom">` +
    '<workspace><atom:title>Default</atom:title><collection href="Packages"><atom:title>Packages</atom:title></collection></workspace></service>\n'
  );
}

const NS =
  'xmlns="http://www.w3.org/2005/Atom" xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" ' +
  'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"';

function feed(title: string, found: NuGetPackage[], all: NuGetPackage[], base: string, query: URLSearchParams): string {
  const skip = Number(query.get('$skip') ?? 0) || 0;
  const top = Number(query.get('$top') ?? 0) || 0;
  const page = top ? found.slice(skip, skip + top) : found.slice(skip);
  let next = '';
  if (top && skip + top < found.length) {
    const more = new URLSearchParams(query);
    more.set('$skip', String(skip + top));
    // Written as OData servers write it: the query's quotes and `$` as they are, `&` as `&amp;`.
    next = `<link rel="next" href="${xml(`${base}${title}()?${decodeURIComponent(more.toString())}`)}" />`;
  }
  const self = `${base}${title}${title === 'Packages' ? '' : '()'}`;
  return (
    `<?xml version="1.0" encoding="utf-8"?>\n<feed xml:base="${xml(base)}" ${NS}>` +
    `<title type="text">${title}</title><id>${xml(self)}</id><updated>${new Date().toISOString()}</updated>` +
    `<link rel="self" title="${title}" href="${title}" />${page.map((p) => entry(p, all, base, false)).join('')}${next}</feed>\n`
  );
}

function entry(pkg: NuGetPackage, all: NuGetPackage[], base: string, alone: boolean): string {
  const name = `Packages(Id='${pkg.id}',Version='${pkg.version}')`;
  const hash = createHash('sha512').update(pkg.bytes).digest('base64');
  const latest = isLatest(pkg, all);
  const bool = (value: boolean) => `m:type="Edm.Boolean">${value}`;
  return (
    `<entry${alone ? ` xml:base="${xml(base)}" ${NS}` : ''}>` +
    `<id>${xml(`${base}${name}`)}</id><title type="text">${xml(pkg.id)}</title><summary type="text"></summary>` +
    `<updated>${pkg.published}</updated><author><name>rr</name></author>` +
    `<link rel="edit-media" title="Package" href="${xml(`${name}/$value`)}" /><link rel="edit" title="Package" href="${xml(name)}" />` +
    '<category term="NuGet.Server.DataServices.Package" scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme" />' +
    `<content type="application/zip" src="${xml(`${base}${pkg.id}/${pkg.version}`)}" />` +
    `<m:properties><d:Version>${xml(pkg.version)}</d:Version><d:Title>${xml(pkg.id)}</d:Title>` +
    `<d:Dependencies>${xml(pkg.dependencies)}</d:Dependencies><d:Description>${xml(pkg.description)}</d:Description>` +
    `<d:IsLatestVersion ${bool(latest)}</d:IsLatestVersion><d:IsAbsoluteLatestVersion ${bool(latest)}</d:IsAbsoluteLatestVersion>` +
    `<d:IsPrerelease ${bool(pkg.version.includes('-'))}</d:IsPrerelease><d:Listed ${bool(true)}</d:Listed>` +
    `<d:Published m:type="Edm.DateTime">${pkg.published.replace(/Z$/, '')}</d:Published>` +
    `<d:PackageSize m:type="Edm.Int64">${pkg.bytes.length}</d:PackageSize><d:PackageHash>${hash}</d:PackageHash>` +
    '<d:PackageHashAlgorithm>SHA512</d:PackageHashAlgorithm><d:DownloadCount m:type="Edm.Int32">0</d:DownloadCount>' +
    `<d:RequireLicenseAcceptance ${bool(false)}</d:RequireLicenseAcceptance></m:properties></entry>`
  );
}

/** `$metadata`: the entity and the three functions V2 clients look for (nuget reads it to pick Search and FindPackagesById). */
const METADATA =
  '<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n' +
  '<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx">' +
  '<edmx:DataServices xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" m:DataServiceVersion="2.0">' +
  '<Schema Namespace="NuGetGallery" xmlns="http://schemas.microsoft.com/ado/2006/04/edm">' +
  '<EntityType Name="V2FeedPackage" m:HasStream="true"><Key><PropertyRef Name="Id" /><PropertyRef Name="Version" /></Key>' +
  '<Property Name="Id" Type="Edm.String" Nullable="false" /><Property Name="Version" Type="Edm.String" Nullable="false" /></EntityType>' +
  '<EntityContainer Name="FeedContext_x0060_1" m:IsDefaultEntityContainer="true">' +
  '<EntitySet Name="Packages" EntityType="NuGetGallery.V2FeedPackage" />' +
  '<FunctionImport Name="Search" EntitySet="Packages" ReturnType="Collection(NuGetGallery.V2FeedPackage)" m:HttpMethod="GET">' +
  '<Parameter Name="searchTerm" Type="Edm.String" /><Parameter Name="targetFramework" Type="Edm.String" />' +
  '<Parameter Name="includePrerelease" Type="Edm.Boolean" /></FunctionImport>' +
  '<FunctionImport Name="FindPackagesById" EntitySet="Packages" ReturnType="Collection(NuGetGallery.V2FeedPackage)" m:HttpMethod="GET">' +
  '<Parameter Name="id" Type="Edm.String" /></FunctionImport>' +
  '</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>\n';

function serviceIndex(base: string): unknown {
  return {
    version: '3.0.0',
    resources: [
      { '@id': `${base}v3/content/`, '@type': 'PackageBaseAddress/3.0.0' },
      { '@id': `${base}v3/query/0`, '@type': 'SearchQueryService' },
      { '@id': `${base}v3/query/0`, '@type': 'SearchQueryService/3.0.0-beta' },
      { '@id': `${base}v3/registration/`, '@type': 'RegistrationsBaseUrl' },
      { '@id': `${base}v3/registration/`, '@type': 'RegistrationsBaseUrl/3.6.0' },
      // A proxy member's upstream resource that Nexus passes on as it is: not the router's to map.
      { '@id': 'https://api.nuget.org/v3/catalog0/index.json', '@type': 'Catalog/3.0.0' },
    ],
  };
}

function registrationIndex(versions: NuGetPackage[], base: string): unknown {
  const id = versions[0]!.id.toLowerCase();
  const index = `${base}v3/registration/${id}/index.json`;
  const [lower, upper] = [versions[0]!.version, versions.at(-1)!.version];
  return {
    '@id': index,
    count: 1,
    items: [
      {
        '@id': `${index}#page/${lower}/${upper}`,
        count: versions.length,
        lower,
        upper,
        items: versions.map((p) => ({
          '@id': `${base}v3/registration/${id}/${p.version}.json`,
          catalogEntry: {
            '@id': `${base}v3/catalog/${id}/${p.version}.json`,
            id: p.id,
            version: p.version,
            description: p.description,
            listed: true,
            packageContent: `${base}v3/content/${id}/${p.version}/${id}.${p.version}.nupkg`,
            projectUrl: 'https://example.com/rr',
          },
          packageContent: `${base}v3/content/${id}/${p.version}/${id}.${p.version}.nupkg`,
          registration: index,
        })),
      },
    ],
  };
}
