/**
 * The format registry: every `preset` a site may name, each one module (format.ts says what a module
 * holds). The config schema takes its names from here; sites, health checks, `check --probe`, the body
 * passes, `route` and `import-nginx` take each format's knowledge from here. A new format is a new module
 * plus one line below (and its tests, and its README section).
 */
import { docker } from './docker.ts';
import type { Format } from './format.ts';
import { generic } from './generic.ts';
import { maven } from './maven.ts';
import { npm } from './npm.ts';
import { nuget } from './nuget.ts';
import { pypi } from './pypi.ts';
import { raw } from './raw.ts';
import { rubygems } from './rubygems.ts';
import { yum } from './yum.ts';

export type { BodyToAmend, BodyUrlKind, Format, SessionWords } from './format.ts';

/** In the order `check` lists them; `generic` last (the default). */
export const FORMATS = { docker, npm, maven, pypi, raw, yum, rubygems, nuget, generic } as const satisfies Record<string, Format>;

export type FormatName = keyof typeof FORMATS;

/** The names, as the schema's enum takes them. */
export const FORMAT_NAMES = Object.keys(FORMATS) as [FormatName, ...FormatName[]];

for (const [key, format] of Object.entries(FORMATS)) {
  // The registry key is the name sites use; a module registered under another name is a mistake here.
  if (format.name !== key) throw new Error(`src/formats/index.ts: the module registered as "${key}" is named "${format.name}"`);
}

/** The format a site names (`generic` when the name is unknown, for callers that read unparsed config). */
export function formatOf(name: string | undefined): Format {
  return Object.hasOwn(FORMATS, name ?? '') ? FORMATS[name as FormatName] : FORMATS.generic;
}

/** Whether `name` is a registered format. */
export const isFormatName = (name: unknown): name is FormatName => typeof name === 'string' && Object.hasOwn(FORMATS, name);

/**
 * Nexus formats with no module here yet: an nginx site whose upstreams or names say one of these is not a
 * docker registry just because it splits methods (src/import/nginx.ts).
 */
export const OTHER_NEXUS_FORMATS = ['helm', 'gems', 'conda', 'cargo', 'golang', 'apt', 'conan', 'cocoapods', 'r-'] as const;
