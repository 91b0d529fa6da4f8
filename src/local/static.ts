import type { StaticMount } from '../config/serving.ts';
import type { FileAccess, FileInfo } from './files.ts';
import { contentTypeFor } from './mime.ts';

/**
 * Serves one `static` mount (URL prefix → folder) in the core, with file access injected.
 *
 * Containment does not rely on the URL parser: each path segment is percent-decoded on its own
 * and refused (400) when it is `.`/`..` or holds `/`, `\`, NUL or another control character; the
 * joined path is then resolved with every symlink (realpath) and must still lie inside the
 * folder's own realpath, else 404. The file opened is the resolved one. Dotfiles are not served.
 * A folder's URL serves its `index.html` (nginx's default `index`), else its listing when
 * `listing` is on, else 404; either way its URL without the trailing slash redirects (301) to it.
 */
export type StaticHandler = (request: Request, url: URL) => Promise<Response | undefined>;

export function staticHandler(mount: StaticMount, files: FileAccess): StaticHandler {
  const prefix = mount.prefix; // '' for a mount at '/'
  return async (request, url) => {
    const pathname = url.pathname;
    if (prefix && pathname !== prefix && !pathname.startsWith(`${prefix}/`)) return undefined;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return text(405, 'method not allowed: this path serves files (GET, HEAD)\n', { allow: 'GET, HEAD' });
    }
    const segments = safeSegments(pathname.slice(prefix.length));
    if (segments === 'bad') return text(400, 'bad path\n');
    if (segments === 'hidden') return notFound();

    const root = await files.realpath(mount.dir);
    if (!root) return notFound();
    const target = await files.realpath(segments.length ? `${root}/${segments.join('/')}` : root);
    if (!target || !inside(root, target)) return notFound();
    const info = await files.stat(target);
    if (!info) return notFound();

    if (info.kind === 'directory') {
      // As nginx's defaults (`index index.html`, then autoindex): the folder's index.html, else the listing when on.
      const index = await indexFile(files, root, target);
      if (!index && !mount.listing) return notFound();
      // The folder's URL without its slash redirects to it with the slash (relative links in the page need it).
      // One leading slash: `//host/dir` must not become a redirect to another host.
      if (!pathname.endsWith('/')) return redirect(`/${pathname.replace(/^\/+/, '')}/${url.search}`);
      if (index) return serveFile(request, files, index.path, index.info, contentTypeFor(INDEX));
      return listing(request, files, root, target, pathname);
    }
    if (info.kind !== 'file') return notFound();
    const name = segments[segments.length - 1] ?? '';
    return serveFile(request, files, target, info, contentTypeFor(name));
  };
}

/** The name served for a folder's URL, as nginx's default `index index.html`. */
export const INDEX = 'index.html';

/** The folder's index.html when it is a file that stays inside the mount (symlinks resolved). */
async function indexFile(files: FileAccess, root: string, folder: string): Promise<{ path: string; info: FileInfo } | undefined> {
  const path = await files.realpath(`${folder}/${INDEX}`);
  if (!path || !inside(root, path)) return undefined;
  const info = await files.stat(path);
  return info?.kind === 'file' ? { path, info } : undefined;
}

/** Decoded path segments below the mount, or why they are refused. */
export function safeSegments(rest: string): string[] | 'bad' | 'hidden' {
  const segments: string[] = [];
  for (const raw of rest.split('/')) {
    if (raw === '') continue;
    if (raw.includes('\\')) return 'bad';
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return 'bad';
    }
    // eslint-disable-next-line no-control-regex
    if (decoded === '.' || decoded === '..' || /[/\\\u0000-\u001f\u007f]/.test(decoded)) return 'bad';
    if (decoded.startsWith('.')) return 'hidden';
    segments.push(decoded);
  }
  return segments;
}

const inside = (root: string, path: string): boolean => path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);

/** nginx's form: `"<mtime hex>-<size hex>"`, strong, so If-Range can use it. */
export const etagOf = (info: FileInfo): string => `"${Math.floor(info.mtimeMs / 1000).toString(16)}-${info.size.toString(16)}"`;

async function serveFile(request: Request, files: FileAccess, path: string, info: FileInfo, contentType: string): Promise<Response> {
  const etag = etagOf(info);
  const lastModified = new Date(Math.floor(info.mtimeMs / 1000) * 1000).toUTCString();
  const validators = { etag, 'last-modified': lastModified };
  if (notModified(request.headers, etag, info.mtimeMs)) return new Response(null, { status: 304, headers: validators });

  const headers: Record<string, string> = {
    ...validators,
    'content-type': contentType,
    'accept-ranges': 'bytes',
    'x-content-type-options': 'nosniff',
  };
  // Range is defined for GET only (RFC 9110 §14.2); HEAD answers as the full GET would.
  const range = request.method === 'GET' ? rangeFor(request.headers, info.size, etag, lastModified) : undefined;
  if (range === 'unsatisfiable') {
    return new Response(null, { status: 416, headers: { ...validators, 'content-range': `bytes */${info.size}` } });
  }
  const length = range ? range.end - range.start + 1 : info.size;
  headers['content-length'] = String(length);
  if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${info.size}`;
  const body = request.method === 'HEAD' || length === 0 ? null : await files.open(path, range ?? { start: 0, end: info.size - 1 });
  return new Response(body, { status: range ? 206 : 200, headers });
}

/** If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2). */
function notModified(headers: Headers, etag: string, mtimeMs: number): boolean {
  const noneMatch = headers.get('if-none-match');
  if (noneMatch !== null) {
    return noneMatch.trim() === '*' || noneMatch.split(',').some((tag) => weak(tag.trim()) === weak(etag));
  }
  const since = headers.get('if-modified-since');
  if (since === null) return false;
  const date = Date.parse(since);
  return !Number.isNaN(date) && Math.floor(mtimeMs / 1000) * 1000 <= date;
}

const weak = (tag: string): string => tag.replace(/^W\//, '');

/**
 * One `bytes=` range, clamped to the file; undefined means "send the whole file" (no Range, a
 * stale If-Range, several ranges, or a header we do not understand, which RFC 9110 lets us ignore).
 */
export function rangeFor(headers: Headers, size: number, etag: string, lastModified: string): { start: number; end: number } | 'unsatisfiable' | undefined {
  const header = headers.get('range');
  if (header === null) return undefined;
  const ifRange = headers.get('if-range');
  if (ifRange !== null && ifRange.trim() !== etag && ifRange.trim() !== lastModified) return undefined;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  if (match[2] !== '' && Number(match[2]) < start) return undefined; // invalid: ignored
  if (start >= size) return 'unsatisfiable';
  return { start, end: match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1) };
}

async function listing(request: Request, files: FileAccess, root: string, path: string, pathname: string): Promise<Response> {
  const all = await files.readdir(path);
  // Only what a request could fetch: no dotfiles, no symlinks leading out of the folder.
  const reachable = await Promise.all(
    all.map(async (entry) => {
      if (entry.name.startsWith('.') || entry.kind === 'other') return false;
      const real = await files.realpath(`${path}/${entry.name}`);
      return real !== undefined && inside(root, real);
    }),
  );
  const entries = all
    .filter((_entry, i) => reachable[i])
    .sort((a, b) => Number(b.kind === 'directory') - Number(a.kind === 'directory') || a.name.localeCompare(b.name));
  const title = escapeHtml(safeDecode(pathname));
  const items = entries.map((entry) => {
    const name = entry.name + (entry.kind === 'directory' ? '/' : '');
    return `<li><a href="${encodeURIComponent(entry.name)}${entry.kind === 'directory' ? '/' : ''}">${escapeHtml(name)}</a></li>`;
  });
  const html =
    `<!doctype html>\n<meta charset="utf-8">\n<title>Index of ${title}</title>\n` +
    `<h1>Index of ${title}</h1>\n<ul>\n<li><a href="../">../</a></li>\n${items.join('\n')}\n</ul>\n`;
  const body = new TextEncoder().encode(html);
  return new Response(request.method === 'HEAD' ? null : body, {
    status: 200,
    headers: { 'content-type': 'text/html; charset=utf-8', 'content-length': String(body.byteLength), 'cache-control': 'no-cache' },
  });
}

const safeDecode = (value: string): string => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);

function text(status: number, body: string, extra: Record<string, string> = {}): Response {
  // The declared length is what the access log counts as bytesOut.
  const bytes = new TextEncoder().encode(body);
  return new Response(bytes, { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(bytes.byteLength), ...extra } });
}

const notFound = (): Response => text(404, 'not found\n');

const redirect = (location: string): Response => new Response(null, { status: 301, headers: { location } });
