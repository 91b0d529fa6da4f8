/**
 * File access the core needs for `static` folders, the CA certificate and the bootstrap script.
 * The core never imports a file API: each adapter injects one (node-files.ts serves Node, Bun and
 * Deno, which all have node:fs). Paths are POSIX strings as the config gives them.
 */
export type FileKind = 'file' | 'directory' | 'other';

export interface FileInfo {
  kind: FileKind;
  size: number;
  mtimeMs: number;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface FileAccess {
  /** Follows symlinks; undefined when nothing is there (or a path component is not a folder). */
  stat(path: string): Promise<FileInfo | undefined>;
  /** The canonical absolute path, every symlink resolved; undefined when nothing is there. */
  realpath(path: string): Promise<string | undefined>;
  /**
   * The file's bytes (only `range` when given): a stream read as the client takes it, or a Blob
   * backed by the file where the runtime sends those best (Bun keeps Content-Length and uses
   * sendfile for a file Blob, and drops Content-Length for a stream that is not ready at once).
   */
  open(path: string, range?: ByteRange): Promise<ReadableStream<Uint8Array> | Blob>;
  /** Entries of a folder, symlinks resolved to what they point at. */
  readdir(path: string): Promise<Array<{ name: string; kind: FileKind }>>;
}

/** A whole (small) file, or undefined when it is not there. */
export async function readSmallFile(files: FileAccess, path: string, limit = 1024 * 1024): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const info = await files.stat(path);
  if (info?.kind !== 'file') return undefined;
  if (info.size > limit) throw new Error(`${path} is larger than ${limit} bytes`);
  return new Uint8Array(await new Response(await files.open(path)).arrayBuffer());
}
