import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { ImportOptions } from './nginx.ts';

/**
 * `include` for `importNginx` on Node: a relative pattern is taken relative to `prefix` (nginx's
 * configuration folder, e.g. /etc/nginx; by default the folder of the file being imported), `*`
 * and `?` may stand in the last path segment (`conf.d/*.conf`), matches are read in name order as
 * nginx does. A pattern with a wildcard that matches nothing is no error (nginx agrees).
 */
export function nodeInclude(prefix: string): NonNullable<ImportOptions['include']> {
  return (pattern) => {
    const path = isAbsolute(pattern) ? pattern : join(prefix, pattern);
    const name = basename(path);
    if (!/[*?[]/.test(name)) return [{ file: path, text: readFileSync(path, 'utf8') }];
    if (/[*?[]/.test(dirname(path))) throw new Error('wildcards are followed in the last path segment only');
    const re = new RegExp(
      `^${name
        .replace(/[.+^${}()|\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    );
    return readdirSync(dirname(path))
      .filter((entry) => re.test(entry))
      .sort()
      .map((entry) => ({ file: join(dirname(path), entry), text: readFileSync(join(dirname(path), entry), 'utf8') }));
  };
}
