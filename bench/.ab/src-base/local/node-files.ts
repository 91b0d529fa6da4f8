import type { Dirent, Stats } from 'node:fs';
import { openAsBlob } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import type { ByteRange, FileAccess, FileInfo, FileKind } from './files.ts';

const CHUNK = 64 * 1024;
/** "Nothing there" errors; anything else (EACCES, EIO) is a real failure and propagates. */
const ABSENT = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG']);

function absent(error: unknown): boolean {
  return ABSENT.has((error as NodeJS.ErrnoException)?.code ?? '');
}

const kindOf = (entry: Stats | Dirent): FileKind => (entry.isFile() ? 'file' : entry.isDirectory() ? 'directory' : 'other');

/** FileAccess over node:fs/promises: works on Node, Bun and Deno (node:fs compatibility). */
export const nodeFiles: FileAccess = {
  async stat(path) {
    try {
      const info = await stat(path);
      return { kind: kindOf(info), size: info.size, mtimeMs: info.mtimeMs } satisfies FileInfo;
    } catch (error) {
      if (absent(error)) return undefined;
      throw error;
    }
  },

  async realpath(path) {
    try {
      return await realpath(path);
    } catch (error) {
      if (absent(error)) return undefined;
      throw error;
    }
  },

  async open(path, range?: ByteRange) {
    if (globalThis.process?.versions?.bun) {
      const blob = await openAsBlob(path);
      return range ? blob.slice(range.start, range.end + 1) : blob;
    }
    const handle = await open(path, 'r');
    let position = range?.start ?? 0;
    const end = range ? range.end + 1 : Infinity;
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await handle.close();
    };
    // Reads one chunk per pull: the file is read as fast as the client takes it, never ahead.
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          try {
            const want = Math.min(CHUNK, end - position);
            if (want <= 0) {
              await close();
              controller.close();
              return;
            }
            const buffer = new Uint8Array(want);
            const { bytesRead } = await handle.read(buffer, 0, want, position);
            if (bytesRead === 0) {
              // The file shrank under us: end short rather than hang.
              await close();
              controller.close();
              return;
            }
            position += bytesRead;
            controller.enqueue(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
          } catch (error) {
            await close().catch(() => {});
            controller.error(error);
          }
        },
        async cancel() {
          await close();
        },
      },
      { highWaterMark: 0 },
    );
  },

  async readdir(path) {
    const entries = await readdir(path, { withFileTypes: true });
    return Promise.all(
      entries.map(async (entry) => {
        if (!entry.isSymbolicLink()) return { name: entry.name, kind: kindOf(entry) };
        const target = await nodeFiles.stat(`${path}/${entry.name}`);
        return { name: entry.name, kind: target?.kind ?? 'other' };
      }),
    );
  },
};
