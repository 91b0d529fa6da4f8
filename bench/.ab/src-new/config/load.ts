import { configSchema, type Config } from './schema.ts';
import { defaultConfig } from './default.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates config data; the error lists every bad field by its path, e.g. `sites[0].upstreams.read`. */
export function parseConfig(data: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(data);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${fieldPath(issue.path) || '(top level)'}: ${issue.message}`);
  throw new ConfigError(`${source} is invalid:\n${lines.join('\n')}`);
}

export function parseConfigText(text: string, source = 'config'): Config {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${source} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(data, source);
}

export const loadDefaultConfig = (): Config => parseConfig(defaultConfig, 'default config');

function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i ? '.' : ''}${String(part)}`)).join('');
}
