import { z } from 'zod';

/**
 * Config of the edge's two halves (see src/edge/): `directUploads` on the worker's docker site
 * sends upload bodies past the platform's body cap to `url`, a DNS-only name served by
 * `uploadsFromEdge` on a router next to the registry. Both name the environment variable (a
 * worker secret, or the process environment) that holds the shared key.
 */
const keyEnv = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name, e.g. "UPLOAD_KEY"')
  .default('UPLOAD_KEY');

export const directUploadsSchema = z.strictObject({
  /** Where clients send an upload's PATCH/PUT: `https://upload.registry.example.com` (no path, query or fragment). */
  url: z.string().refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && (url.pathname === '/' || url.pathname === '') && !url.search && !url.hash;
    } catch {
      return false;
    }
  }, 'must be an absolute http(s) origin without path, e.g. "https://upload.registry.example.com"'),
  keyEnv,
  /** Seconds an upload capability stays valid (renewed with each step of the upload). */
  ttl: z.number().int().positive().default(3600),
});

export const uploadsFromEdgeSchema = z.strictObject({ keyEnv });

export type DirectUploadsConfig = z.output<typeof directUploadsSchema>;
export type UploadsFromEdgeConfig = z.output<typeof uploadsFromEdgeSchema>;
