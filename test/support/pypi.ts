/**
 * Python packaging for end-to-end tests, without PyPI: a Nexus-like PyPI origin in this process,
 * distributions built by hand, and hermetic runners for the real clients (Debian's `twine`, `pip`
 * in a fresh venv).
 *
 * **Origin** (`startPypiOrigin`): one node:http server laid out as a path-based Nexus, one port:
 * - `/repository/pypi-hosted/` stands for a *pypi-hosted* repository. `POST /` with
 *   `multipart/form-data` and `:action=file_upload` (twine's legacy upload API: `name`, `version`,
 *   `filetype`, `sha256_digest`, `md5_digest`, … and the file as `content`) stores the file after
 *   checking its digests; the same file name again is answered with the status line
 *   `400 File already exists.` and a text body saying so, as PyPI does (twine prints the reason
 *   phrase; `--skip-existing` recognises "already exist" in the reason or the body). Basic auth
 *   for uploads when `users` is given. It serves reads too (a Nexus hosted repository does).
 * - `/repository/pypi-group/` stands for a *pypi-group* over it: reads only (uploads answer 405),
 *   from the same folder: `/simple/` (PEP 503 HTML, or PEP 691 JSON when the client's `Accept`
 *   asks for `application/vnd.pypi.simple.v1+json` and `json` is on), `/simple/<name>/`,
 *   `/packages/<name>/<version>/<file>`, `/pypi/<name>/json` and `/pypi/<name>/<version>/json`.
 *
 * Links in simple pages and JSON (switchable while running, `origin.options.links`):
 * - `relative`: `../../packages/<name>/<version>/<file>#sha256=…` as Nexus writes them;
 * - `absolute`: `<proto>://<host>/repository/pypi-group/packages/…` with proto, host and port from
 *   `X-Forwarded-Proto/Host/Port`, else `Host`, as Nexus behind a proxy builds them: through a
 *   router that is the router's own public name plus the internal prefix, which the router must
 *   strip again;
 * - `internal`: the same with this server's own `127.0.0.1:PORT` (the URL leaks the origin).
 * The JSON API (`/pypi/…/json`) uses absolute URLs in both absolute modes, PyPI-like, and relative
 * ones (`../../packages/…`, relative to the JSON URL) in `relative` mode.
 *
 * Every request is logged (`origin.log`): which repository, method, raw path, the path inside the
 * repository, status, reason phrase, the headers that tell what the client asked for, whether it
 * came through a proxy (X-Forwarded-*), and for uploads the form's `:action` and file name.
 *
 * **Distributions** (`buildDists`): a pure-Python wheel (zip with METADATA, WHEEL, RECORD written
 * here, digests and all) and an sdist (`.tar.gz` with PKG-INFO, pyproject.toml and a tiny in-tree
 * PEP 517 backend, so `pip install` can build it offline with build isolation: it requires
 * nothing). No Python tooling is needed to build them.
 *
 * **Clients** (`pythonTools`, `twineUpload`, `pipInstall`): Debian's `twine` (apt `twine`, 4.0.2 on
 * bookworm) and pip from a venv of Debian's python3 (`python3 -m venv`, apt `python3-venv`: pip
 * 23.0.1 and setuptools 66.1.1 from `/usr/share/python-wheels`). Each runs with an environment of
 * our own: no PIP_* / TWINE_* variables of the machine (PIP_FIND_LINKS would add a second source),
 * `PIP_CONFIG_FILE=/dev/null`, no proxies, no cache, no version check, no keyring, no prompts.
 * `pipInstall` copies a pristine template venv (made once, `python3 -m venv` takes seconds) into a
 * new folder and runs `python -m pip` there: a fresh venv each time.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { HEALTH_CHECK_AGENT } from './origin.ts';

// ───────────────────────────── names ─────────────────────────────

/** PEP 503 normalized project name. */
export const normalize = (name: string): string => name.toLowerCase().replace(/[-_.]+/g, '-');

/** The name as wheel and sdist file names spell it (PEP 427 / PEP 625). */
const fileSafe = (name: string): string => name.replace(/[-_.]+/g, '_');

// ───────────────────────────── distributions ─────────────────────────────

export interface Dist {
  path: string;
  filename: string;
  filetype: 'bdist_wheel' | 'sdist';
  sha256: string;
  size: number;
}

export interface Dists {
  name: string;
  version: string;
  /** The import name: `import <module>; <module>.__version__`. */
  module: string;
  wheel: Dist;
  sdist: Dist;
}

/**
 * Writes `<name>-<version>` as a wheel and an sdist into `dir` (e.g. `dist/`), byte for byte
 * reproducible. `name` may be unnormalized (`Router_Demo`): files and metadata keep it as given.
 */
export async function buildDists(dir: string, name: string, version: string): Promise<Dists> {
  await mkdir(dir, { recursive: true });
  const module = fileSafe(name).toLowerCase();
  const stem = `${fileSafe(name)}-${version}`;
  const init = `__version__ = ${JSON.stringify(version)}\n`;
  const metadata = [
    'Metadata-Version: 2.1',
    `Name: ${name}`,
    `Version: ${version}`,
    'Summary: A tiny package for registry-router tests',
    'License: MIT',
    'Requires-Python: >=3.7',
    '',
    '',
  ].join('\n');

  // Wheel: the package, then .dist-info with RECORD last (PEP 427).
  const info = `${stem}.dist-info`;
  const files: Array<[string, Buffer]> = [
    [`${module}/__init__.py`, Buffer.from(init)],
    [`${info}/METADATA`, Buffer.from(metadata)],
    [`${info}/WHEEL`, Buffer.from('Wheel-Version: 1.0\nGenerator: registry-router-tests (1.0)\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n')],
    [`${info}/top_level.txt`, Buffer.from(`${module}\n`)],
  ];
  const record = files.map(([path, bytes]) => `${path},sha256=${createHash('sha256').update(bytes).digest('base64url')},${bytes.length}`);
  files.push([`${info}/RECORD`, Buffer.from([...record, `${info}/RECORD,,`, ''].join('\n'))]);
  const wheelName = `${stem}-py3-none-any.whl`;
  const wheel = await writeDist(dir, wheelName, 'bdist_wheel', zip(files));

  // sdist: PKG-INFO, pyproject.toml with an in-tree backend (needs nothing from an index), sources.
  const root = stem;
  const sdistFiles: Array<[string, Buffer]> = [
    [`${root}/PKG-INFO`, Buffer.from(metadata)],
    [
      `${root}/pyproject.toml`,
      Buffer.from(
        [
          '[build-system]',
          'requires = []',
          'build-backend = "tiny_backend"',
          'backend-path = ["."]',
          '',
          '[project]',
          `name = "${name}"`,
          `version = "${version}"`,
          'requires-python = ">=3.7"',
          '',
        ].join('\n'),
      ),
    ],
    [`${root}/tiny_backend.py`, Buffer.from(TINY_BACKEND)],
    [`${root}/${module}/__init__.py`, Buffer.from(init)],
  ];
  const sdist = await writeDist(dir, `${stem}.tar.gz`, 'sdist', gzipSync(tar(sdistFiles), { level: 9 }));
  return { name, version, module, wheel, sdist };
}

/**
 * A PEP 517 backend in the sdist itself: builds the wheel from PKG-INFO and the package folder with
 * the standard library, so `pip install` of the sdist works with build isolation and no index.
 */
const TINY_BACKEND = `"""Minimal in-tree PEP 517 backend (registry-router tests): pure-Python wheels from PKG-INFO."""
import base64, hashlib, os, zipfile

def _meta():
    with open("PKG-INFO", encoding="utf-8") as f:
        text = f.read()
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    return text, fields["Name"], fields["Version"]

def _safe(name):
    import re
    return re.sub(r"[-_.]+", "_", name)

def get_requires_for_build_wheel(config_settings=None):
    return []

def get_requires_for_build_sdist(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    text, name, version = _meta()
    stem = f"{_safe(name)}-{version}"
    module = _safe(name).lower()
    info = f"{stem}.dist-info"
    files = []
    for dirpath, _, names in os.walk(module):
        for n in sorted(names):
            if n.endswith(".py"):
                p = os.path.join(dirpath, n)
                with open(p, "rb") as f:
                    files.append((p.replace(os.sep, "/"), f.read()))
    files.append((f"{info}/METADATA", text.encode()))
    files.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\\nGenerator: tiny_backend\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n\\n"))
    record = []
    for p, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{p},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files.append((f"{info}/RECORD", ("\\n".join(record) + "\\n").encode()))
    filename = f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as z:
        for p, data in files:
            z.writestr(p, data)
    return filename
`;

async function writeDist(dir: string, filename: string, filetype: Dist['filetype'], bytes: Buffer): Promise<Dist> {
  const path = join(dir, filename);
  await writeFile(path, bytes);
  return { path, filename, filetype, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
}

/** A zip archive (deflated entries, fixed 1980-01-01 timestamps, UTF-8 names). */
function zip(files: Array<[string, Buffer]>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  const DOS_DATE = (0 << 9) | (1 << 5) | 1; // 1980-01-01
  for (const [name, data] of files) {
    const nameBytes = Buffer.from(name, 'utf8');
    const packed = deflateRawSync(data);
    const crc = crc32(data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, nameBytes, packed);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, 2.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external attributes: -rw-r--r--
    central.writeUInt32LE(offset, 42);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** A ustar archive of regular files (directories implied, mode 0644, mtime 0). */
function tar(files: Array<[string, Buffer]>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, data] of files) {
    if (Buffer.byteLength(name) > 100) throw new Error(`tar: name too long: ${name}`);
    const header = Buffer.alloc(512);
    header.write(name, 0, 100, 'utf8');
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148); // checksum placeholder
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

// ───────────────────────────── origin ─────────────────────────────

export type LinkMode = 'relative' | 'absolute' | 'internal';
export type RepositoryName = 'pypi-hosted' | 'pypi-group';

export interface PypiOriginOptions {
  /** How simple pages and the JSON API point at files. Default `relative`. */
  links: LinkMode;
  /** Answer PEP 691 JSON to clients that ask for it. Default true. */
  json: boolean;
  /** Accounts allowed to upload (Basic auth); none: uploads need no credentials. */
  users?: Record<string, string>;
}

export interface PypiLogEntry {
  seq: number;
  repository: RepositoryName | null;
  method: string;
  /** The request target as received (with the /repository/<name> prefix). */
  url: string;
  /** The path inside the repository ("/simple/x/"), query dropped. */
  path: string;
  status: number;
  reason: string;
  /** The answer's Content-Type (HTML or PEP 691 JSON for simple pages). */
  responseType?: string;
  contentType?: string;
  accept?: string;
  userAgent?: string;
  host?: string;
  forwardedHost?: string;
  forwardedPort?: string;
  forwardedProto?: string;
  /** True when X-Forwarded-For or X-Forwarded-Host came with it (the router sends them). */
  viaProxy: boolean;
  /** Uploads: the form's `:action` and the file's name. */
  action?: string;
  filename?: string;
  /** Uploads: every form field name in order (the file is `content`). */
  fields?: string[];
}

interface StoredFile {
  name: string;
  normalized: string;
  version: string;
  filename: string;
  filetype: string;
  pythonVersion: string;
  requiresPython: string;
  summary: string;
  sha256: string;
  md5: string;
  blake2b256: string;
  size: number;
  uploadedAt: string;
}

export interface PypiOrigin {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `http://127.0.0.1:PORT/repository/pypi-hosted/` */
  hostedUrl: string;
  /** `http://127.0.0.1:PORT/repository/pypi-group/` */
  groupUrl: string;
  /** The folder both repositories read and hosted writes. */
  dir: string;
  options: PypiOriginOptions;
  log: PypiLogEntry[];
  /** Log entries from `mark()` on. */
  since(mark: number): PypiLogEntry[];
  mark(): number;
  /** File names stored for a project. */
  files(project: string): Promise<string[]>;
  close(): Promise<void>;
}

export const SIMPLE_JSON = 'application/vnd.pypi.simple.v1+json';
const REPOSITORIES: RepositoryName[] = ['pypi-hosted', 'pypi-group'];

export async function startPypiOrigin(opts: Partial<PypiOriginOptions> = {}): Promise<PypiOrigin> {
  const options: PypiOriginOptions = { links: 'relative', json: true, ...opts };
  const dir = await mkdtemp(join(tmpdir(), 'rr-pypi-'));
  const log: PypiLogEntry[] = [];
  let selfBase = '';

  const server = createServer((req, res) => {
    // The router's background health checks (on by default) are not requests a client caused: answered, not logged.
    if (req.headers['user-agent'] === HEALTH_CHECK_AGENT) {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    const entry: PypiLogEntry = {
      seq: log.length + 1,
      repository: null,
      method: req.method!,
      url: req.url!,
      path: '',
      status: 0,
      reason: '',
      contentType: req.headers['content-type'],
      accept: req.headers.accept,
      userAgent: req.headers['user-agent'],
      host: req.headers.host,
      forwardedHost: one(req.headers['x-forwarded-host']),
      forwardedPort: one(req.headers['x-forwarded-port']),
      forwardedProto: one(req.headers['x-forwarded-proto']),
      viaProxy: Boolean(req.headers['x-forwarded-for'] || req.headers['x-forwarded-host']),
    };
    log.push(entry);
    res.on('finish', () => {
      entry.status = res.statusCode;
      entry.reason = res.statusMessage;
      entry.responseType = res.getHeader('content-type') as string | undefined;
    });
    res.on('close', () => {
      if (!entry.status) entry.status = res.statusCode;
      if (!entry.reason) entry.reason = res.statusMessage;
    });
    handle(req, res, entry).catch((error: unknown) => {
      if (!res.headersSent) text(res, 500, `origin error: ${String(error)}\n`);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, entry: PypiLogEntry): Promise<void> {
    const target = new URL(req.url!, 'http://origin');
    const match = /^\/repository\/([^/]+)(\/.*)?$/.exec(target.pathname);
    const repository = REPOSITORIES.find((name) => name === match?.[1]);
    if (!repository) {
      req.resume();
      return text(res, 404, 'Repository not found\n');
    }
    entry.repository = repository;
    const path = match![2] || '/';
    entry.path = path;
    const repoBase = `${baseFor(req)}/repository/${repository}`;

    if (req.method === 'POST') {
      if (repository === 'pypi-group') {
        req.resume();
        return text(res, 405, 'Method Not Allowed: a group repository takes no uploads\n');
      }
      return upload(req, res, entry, path);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      req.resume();
      return text(res, 405, 'Method Not Allowed\n');
    }
    req.resume();
    const wantsJson = options.json && (req.headers.accept ?? '').includes(SIMPLE_JSON);

    if (path === '/simple/' || path === '/simple') {
      const projects = await listProjects();
      if (wantsJson) return json(res, 200, { meta: { 'api-version': '1.0' }, projects: projects.map((name) => ({ name })) }, SIMPLE_JSON);
      const href = (name: string) => (options.links === 'relative' ? `${name}/` : `${repoBase}/simple/${name}/`);
      return html(
        res,
        `<!DOCTYPE html>\n<html lang="en">\n<head><meta name="pypi:repository-version" content="1.0"><title>Simple Index</title></head>\n` +
          `<body>\n${projects.map((name) => `<a href="${href(name)}">${name}</a><br/>`).join('\n')}\n</body>\n</html>\n`,
      );
    }
    let m = /^\/simple\/([^/]+)\/$/.exec(path);
    if (m) {
      const project = normalize(decodeURIComponent(m[1]!));
      const stored = await projectFiles(project);
      if (!stored.length) return text(res, 404, 'Not Found\n');
      const fileUrl = (file: StoredFile) =>
        options.links === 'relative'
          ? `../../packages/${file.normalized}/${file.version}/${file.filename}`
          : `${repoBase}/packages/${file.normalized}/${file.version}/${file.filename}`;
      if (wantsJson) {
        return json(
          res,
          200,
          {
            meta: { 'api-version': '1.0' },
            name: project,
            files: stored.map((file) => ({
              filename: file.filename,
              url: fileUrl(file),
              hashes: { sha256: file.sha256 },
              'requires-python': file.requiresPython || undefined,
            })),
          },
          SIMPLE_JSON,
        );
      }
      const links = stored.map(
        (file) =>
          `<a href="${fileUrl(file)}#sha256=${file.sha256}" ` +
          `rel="internal"${file.requiresPython ? ` data-requires-python="${escapeHtml(file.requiresPython)}"` : ''}>${file.filename}</a><br/>`,
      );
      return html(
        res,
        `<!DOCTYPE html>\n<html lang="en">\n<head><meta name="pypi:repository-version" content="1.0"><title>Links for ${project}</title></head>\n` +
          `<body>\n<h1>Links for ${project}</h1>\n${links.join('\n')}\n</body>\n</html>\n`,
      );
    }
    m = /^\/pypi\/([^/]+)\/(?:([^/]+)\/)?json\/?$/.exec(path);
    if (m) {
      const project = normalize(decodeURIComponent(m[1]!));
      const stored = await projectFiles(project);
      const version = m[2] ? decodeURIComponent(m[2]) : latest(stored.map((file) => file.version));
      const current = stored.filter((file) => file.version === version);
      if (!current.length) return json(res, 404, { message: 'Not Found' });
      const describe = (file: StoredFile) => ({
        filename: file.filename,
        packagetype: file.filetype,
        python_version: file.pythonVersion,
        requires_python: file.requiresPython || null,
        size: file.size,
        digests: { md5: file.md5, sha256: file.sha256, blake2b_256: file.blake2b256 },
        md5_digest: file.md5,
        upload_time_iso_8601: file.uploadedAt,
        // Relative to /pypi/<name>/json (or /pypi/<name>/<version>/json) in relative mode.
        url:
          options.links === 'relative'
            ? `${m![2] ? '../' : ''}../../packages/${file.normalized}/${file.version}/${file.filename}`
            : `${repoBase}/packages/${file.normalized}/${file.version}/${file.filename}`,
        yanked: false,
      });
      const releases: Record<string, unknown[]> = {};
      for (const file of stored) (releases[file.version] ??= []).push(describe(file));
      const first = current[0]!;
      return json(res, 200, {
        info: {
          name: first.name,
          version,
          summary: first.summary,
          requires_python: first.requiresPython || null,
          package_url: options.links === 'relative' ? null : `${repoBase}/project/${project}/`,
        },
        last_serial: stored.length,
        releases: m[2] ? undefined : releases,
        urls: current.map(describe),
        vulnerabilities: [],
      });
    }
    m = /^\/packages\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(path);
    if (m) {
      const [project, version, filename] = [normalize(decodeURIComponent(m[1]!)), decodeURIComponent(m[2]!), decodeURIComponent(m[3]!)];
      const file = join(dir, project, version, filename);
      if (!safeSegment(project) || !safeSegment(version) || !safeSegment(filename) || !existsSync(file)) return text(res, 404, 'Not Found\n');
      const meta = JSON.parse(await readFile(`${file}.json`, 'utf8')) as StoredFile;
      const bytes = await readFile(file);
      const type = filename.endsWith('.whl') ? 'application/zip' : filename.endsWith('.tar.gz') ? 'application/x-gzip' : 'application/octet-stream';
      return send(res, 200, { 'content-type': type, etag: `"${meta.sha256}"`, 'last-modified': new Date(meta.uploadedAt).toUTCString() }, bytes);
    }
    return text(res, 404, 'Not Found\n');
  }

  async function upload(req: IncomingMessage, res: ServerResponse, entry: PypiLogEntry, path: string): Promise<void> {
    const body = await readBody(req);
    if (path !== '/') return text(res, 404, 'Not Found\n');
    if (options.users) {
      const [scheme, value] = (req.headers.authorization ?? '').split(' ');
      const [user, ...rest] = scheme?.toLowerCase() === 'basic' && value ? Buffer.from(value, 'base64').toString('utf8').split(':') : [];
      if (!user || options.users[user] === undefined || options.users[user] !== rest.join(':')) {
        res.setHeader('www-authenticate', 'BASIC realm="Sonatype Nexus Repository Manager"');
        return text(res, 401, 'Unauthorized\n');
      }
    }
    const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(req.headers['content-type'] ?? '');
    if (!/^multipart\/form-data/i.test(req.headers['content-type'] ?? '') || !boundary) return text(res, 400, 'Bad Request: expected multipart/form-data\n');
    const parts = parseMultipart(body, boundary[1] ?? boundary[2]!);
    const field = (name: string) => parts.find((part) => part.name === name && part.filename === undefined)?.data.toString('utf8');
    entry.fields = parts.map((part) => part.name);
    entry.action = field(':action');
    const content = parts.find((part) => part.name === 'content' && part.filename !== undefined);
    entry.filename = content?.filename;
    if (entry.action !== 'file_upload') return text(res, 400, `Bad Request: unsupported :action ${entry.action ?? '(none)'}\n`);
    const name = field('name');
    const version = field('version');
    if (!name || !version || !content?.filename) return text(res, 400, 'Bad Request: name, version and content are required\n');
    const filename = content.filename;
    if (!safeSegment(filename) || !safeSegment(version)) return text(res, 400, 'Bad Request: invalid file name or version\n');
    const sha256 = createHash('sha256').update(content.data).digest('hex');
    const md5 = createHash('md5').update(content.data).digest('hex');
    if (field('sha256_digest') && field('sha256_digest') !== sha256) return text(res, 400, 'Bad Request: sha256_digest does not match the file\n');
    if (field('md5_digest') && field('md5_digest') !== md5) return text(res, 400, 'Bad Request: md5_digest does not match the file\n');
    const project = normalize(name);
    const folder = join(dir, project, version);
    if (existsSync(join(folder, filename))) {
      // PyPI: "400 File already exists. See https://pypi.org/help/#file-name-reuse"; twine prints the reason phrase.
      return text(res, 400, `400 File already exists: ${filename} is in this repository and files cannot be replaced.\n`, 'File already exists.');
    }
    await mkdir(folder, { recursive: true });
    const stored: StoredFile = {
      name,
      normalized: project,
      version,
      filename,
      filetype: field('filetype') ?? '',
      pythonVersion: field('pyversion') ?? '',
      requiresPython: field('requires_python') ?? '',
      summary: field('summary') ?? '',
      sha256,
      md5,
      blake2b256: createHash('blake2b512').update(content.data).digest('hex').slice(0, 64),
      size: content.data.length,
      uploadedAt: new Date().toISOString(),
    };
    await writeFile(join(folder, filename), content.data);
    await writeFile(join(folder, `${filename}.json`), JSON.stringify(stored));
    return text(res, 200, 'OK\n');
  }

  async function listProjects(): Promise<string[]> {
    return (await readdir(dir)).sort();
  }

  async function projectFiles(project: string): Promise<StoredFile[]> {
    if (!safeSegment(project) || !existsSync(join(dir, project))) return [];
    const out: StoredFile[] = [];
    for (const version of (await readdir(join(dir, project))).sort()) {
      for (const name of (await readdir(join(dir, project, version))).sort()) {
        if (name.endsWith('.json')) out.push(JSON.parse(await readFile(join(dir, project, version, name), 'utf8')) as StoredFile);
      }
    }
    return out;
  }

  /** Where absolute links point: what the client used (X-Forwarded-*, else Host), or this server. */
  function baseFor(req: IncomingMessage): string {
    if (options.links === 'internal') return selfBase;
    const proto = one(req.headers['x-forwarded-proto'])?.split(',')[0]?.trim() || 'http';
    const forwarded = one(req.headers['x-forwarded-host'])?.split(',')[0]?.trim();
    if (forwarded) {
      const port = one(req.headers['x-forwarded-port'])?.split(',')[0]?.trim();
      const defaultPort = proto === 'https' ? '443' : '80';
      return `${proto}://${forwarded}${port && !/:\d+$/.test(forwarded) && port !== defaultPort ? `:${port}` : ''}`;
    }
    return `${proto}://${req.headers.host}`;
  }

  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as AddressInfo).port;
  selfBase = `http://127.0.0.1:${port}`;
  return {
    url: selfBase,
    hostedUrl: `${selfBase}/repository/pypi-hosted/`,
    groupUrl: `${selfBase}/repository/pypi-group/`,
    dir,
    options,
    log,
    mark: () => log.length,
    since: (mark) => log.slice(mark),
    async files(project) {
      return (await projectFiles(normalize(project))).map((file) => file.filename);
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => void rm(dir, { recursive: true, force: true }).then(() => done()));
      }),
  };
}

const one = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);
const safeSegment = (segment: string): boolean =>
  segment.length > 0 && !segment.includes('/') && !segment.includes('\\') && segment !== '.' && segment !== '..';
const escapeHtml = (value: string): string => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function latest(versions: string[]): string | undefined {
  const key = (v: string) =>
    v
      .split(/[.+-]/)
      .map((part) => (/^\d+$/.test(part) ? part.padStart(8, '0') : part))
      .join('.');
  return [...versions].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)).at(-1);
}

/** Answers with headers set one by one (so the log can read them back), an optional reason phrase, no body for HEAD. */
function send(res: ServerResponse, status: number, headers: Record<string, string | number>, body: string | Buffer, reason?: string): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('content-length', Buffer.byteLength(body));
  if (reason) res.writeHead(status, reason);
  else res.writeHead(status);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function text(res: ServerResponse, status: number, body: string, reason?: string): void {
  send(res, status, { 'content-type': 'text/plain; charset=utf-8' }, body, reason);
}

function html(res: ServerResponse, body: string): void {
  send(res, 200, { 'content-type': 'text/html; charset=utf-8', vary: 'Accept' }, body);
}

function json(res: ServerResponse, status: number, value: unknown, type = 'application/json'): void {
  send(res, status, { 'content-type': type, vary: 'Accept' }, `${JSON.stringify(value)}\n`);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => done(Buffer.concat(chunks)));
    req.on('error', fail);
  });
}

export interface FormPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

/** RFC 7578 multipart/form-data, whole body in memory (test files are small). */
export function parseMultipart(body: Buffer, boundary: string): FormPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: FormPart[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    let start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    if (body.subarray(start, start + 2).toString() === '\r\n') start += 2;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const raw = body.subarray(start, next - 2); // drop the CRLF before the delimiter
    const split = raw.indexOf('\r\n\r\n');
    const head = raw.subarray(0, split).toString('utf8');
    const data = raw.subarray(split + 4);
    const disposition = /^content-disposition:(.*)$/im.exec(head)?.[1] ?? '';
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1] ?? '';
    const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
    const contentType = /^content-type:\s*(.*)$/im.exec(head)?.[1]?.trim();
    parts.push({ name, filename, contentType, data });
    at = next;
  }
  return parts;
}

/** A legacy upload body as twine builds it (for raw-socket probes): fields, then the file as `content`. */
export function uploadForm(dist: Dist, bytes: Buffer, name: string, version: string): { body: Buffer; contentType: string } {
  const boundary = `rr${createHash('sha256').update(dist.filename).digest('hex').slice(0, 24)}`;
  const fields: Array<[string, string]> = [
    ['name', name],
    ['version', version],
    ['filetype', dist.filetype],
    ['pyversion', dist.filetype === 'sdist' ? 'source' : 'py3'],
    ['metadata_version', '2.1'],
    ['sha256_digest', dist.sha256],
    [':action', 'file_upload'],
    ['protocol_version', '1'],
  ];
  const chunks: Buffer[] = fields.map(([key, value]) => Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${key}"\r\n\r\n${value}\r\n`));
  chunks.push(
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="${dist.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  );
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

// ───────────────────────────── clients ─────────────────────────────

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr together, ANSI colours removed. */
  output: string;
  ms: number;
}

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function run(command: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number }): Promise<RunResult> {
  const started = Date.now();
  return new Promise((done, fail) => {
    execFile(command, args, { env: opts.env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return fail(error);
      const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
      done({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr, output: strip(`${stdout}\n${stderr}`), ms: Date.now() - started });
    });
  });
}

export interface PythonTools {
  python: string;
  twine: string;
  /** A venv made once, copied for each install. */
  template: string;
  work: string;
  env: NodeJS.ProcessEnv;
  pipVersion: string;
  twineVersion: string;
  destroy(): Promise<void>;
}

/** The machine's environment without anything that would steer pip or twine elsewhere. */
function hermeticEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(PIP_|TWINE_|PYTHON|VIRTUAL_ENV$|REQUESTS_CA_BUNDLE$|CURL_CA_BUNDLE$)/i.test(key) || /_proxy$/i.test(key)) continue;
    env[key] = value;
  }
  return {
    ...env,
    HOME: home,
    PATH: `/usr/bin:/bin:${env.PATH ?? ''}`,
    PIP_CONFIG_FILE: '/dev/null',
    PIP_NO_INPUT: '1',
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    PIP_NO_CACHE_DIR: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    TWINE_NON_INTERACTIVE: '1',
    PYTHON_KEYRING_BACKEND: 'keyring.backends.null.Keyring',
    NO_PROXY: '*',
    NO_COLOR: '1',
  };
}

/**
 * Debian's python3 (not a pyenv or other shim on PATH: `/usr/bin/python3` when it exists) and
 * `twine`, and one pristine venv to copy. Throws with the apt packages to install when missing.
 */
export async function pythonTools(): Promise<PythonTools> {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const twine = existsSync('/usr/bin/twine') ? '/usr/bin/twine' : 'twine';
  const work = await mkdtemp(join(tmpdir(), 'rr-py-'));
  const home = join(work, 'home');
  await mkdir(home);
  const env = hermeticEnv(home);
  const template = join(work, 'venv-template');
  const made = await run(python, ['-m', 'venv', template], { env });
  if (made.code !== 0) throw new Error(`${python} -m venv failed (apt-get install python3-venv):\n${made.output}`);
  const pip = await run(join(template, 'bin/python'), ['-m', 'pip', '--version'], { env });
  const tw = await run(twine, ['--version'], { env });
  if (tw.code !== 0) throw new Error(`twine does not run (apt-get install twine):\n${tw.output}`);
  return {
    python,
    twine,
    template,
    work,
    env,
    pipVersion: /pip (\S+)/.exec(pip.stdout)?.[1] ?? pip.output,
    twineVersion: /twine version (\S+)/.exec(tw.stdout)?.[1] ?? tw.output,
    destroy: () => rm(work, { recursive: true, force: true }),
  };
}

/** `twine upload --repository-url <url> -u -p <files>` (plus `extra`, e.g. `--skip-existing`). */
export function twineUpload(
  tools: PythonTools,
  repositoryUrl: string,
  files: string[],
  extra: string[] = [],
  auth = { user: 'u', password: 'p' },
): Promise<RunResult> {
  return run(tools.twine, ['upload', '--repository-url', repositoryUrl, '-u', auth.user, '-p', auth.password, '--disable-progress-bar', ...extra, ...files], {
    env: tools.env,
    cwd: tools.work,
  });
}

export interface PipInstall extends RunResult {
  venv: string;
  /** `<module>.__version__` as the new venv imports it, or null when the import failed. */
  imported: string | null;
}

/**
 * `pip install --index-url <index> --trusted-host <host> <requirement>` in a fresh venv (nothing but
 * that index; `extra` e.g. `--no-binary :all:`), then imports `module` there.
 */
export async function pipInstall(tools: PythonTools, indexUrl: string, requirement: string, module: string, extra: string[] = []): Promise<PipInstall> {
  const venv = await mkdtemp(join(tools.work, 'venv-'));
  await cp(tools.template, venv, { recursive: true, verbatimSymlinks: true });
  const python = join(venv, 'bin/python');
  const host = new URL(indexUrl).hostname;
  const result = await run(
    python,
    ['-m', 'pip', 'install', '--index-url', indexUrl, '--trusted-host', host, '--no-cache-dir', '--disable-pip-version-check', '-v', ...extra, requirement],
    {
      env: { ...tools.env, VIRTUAL_ENV: venv },
      cwd: venv,
    },
  );
  const check = await run(python, ['-c', `import ${module}; print(${module}.__version__)`], { env: tools.env, cwd: venv });
  return { ...result, venv, imported: check.code === 0 ? check.stdout.trim() : null };
}
