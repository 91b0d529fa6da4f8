/**
 * `registry-router import-nginx FILE [--out FILE] [--prefix DIR]`: src/import/nginx.ts on a file,
 * `include`s followed from the nginx folder (./node-include.ts). The config goes to stdout (or
 * `--out`), so `import-nginx nginx.conf > router.json` works; what could not be carried over
 * (file:line) and the deliberate changes go to stderr. Exit 0, or 2 when the nginx file cannot be
 * read or nginx itself would refuse its syntax.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { importNginx, NginxSyntaxError } from '../import/nginx.ts';
import { nodeInclude } from '../import/node-include.ts';
import { parseConfig } from '../config/load.ts';
import type { Output } from './program.ts';

export function importNginxCommand(options: { file: string; out?: string | undefined; prefix?: string | undefined; output: Output }): number {
  const { file, output } = options;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    output.err(`import-nginx: cannot read ${file}: ${(error as Error).message}\n`);
    return 2;
  }
  let result: ReturnType<typeof importNginx>;
  try {
    result = importNginx(text, file, { include: nodeInclude(options.prefix ?? dirname(file)) });
  } catch (error) {
    if (error instanceof NginxSyntaxError) {
      output.err(`import-nginx: ${error.message} (nginx would refuse this file too: \`nginx -t\`)\n`);
      return 2;
    }
    throw error;
  }
  const json = `${JSON.stringify(result.config, null, 2)}\n`;
  if (options.out) {
    try {
      writeFileSync(options.out, json);
    } catch (error) {
      output.err(`import-nginx: cannot write ${options.out}: ${(error as Error).message}\n`);
      return 2;
    }
  } else {
    output.out(json);
  }

  const lines: string[] = [];
  if (result.untranslated.length) {
    lines.push(`import-nginx: not carried over (${result.untranslated.length}):`);
    for (const item of result.untranslated) lines.push(`  ${item.file}:${item.line}: ${item.directive}\n      ${item.why}`);
  }
  if (result.changed.length) {
    lines.push('import-nginx: done differently on purpose:');
    for (const note of result.changed) lines.push(`  - ${note}`);
  }
  // The importer aims for a config that loads as it is; say so when it does not.
  try {
    parseConfig(result.config, options.out ?? 'the imported config');
  } catch (error) {
    lines.push(`import-nginx: ${(error as Error).message}`);
  }
  if (options.out) lines.push(`import-nginx: wrote ${options.out}; next: registry-router check --config ${options.out}`);
  if (lines.length) output.err(`${lines.join('\n')}\n`);
  return 0;
}
