import { request as httpRequest } from 'node:http';

/**
 * A client that goes away in the middle of an upload: it sends the request head and 512 KiB of a
 * body it never finishes (chunked, no length), then destroys its connection 300 ms later. Resolves
 * once it is gone; what reached the origin is the caller's to check.
 */
export function leaveMidUpload(port: number, { method, path, host }: { method: string; path: string; host: string }): Promise<void> {
  return new Promise<void>((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { host }, agent: false });
    req.on('error', () => resolve());
    req.write(Buffer.alloc(512 * 1024));
    setTimeout(() => {
      req.destroy();
      resolve();
    }, 300);
  });
}
