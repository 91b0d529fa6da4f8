import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { configSchema, type Config } from './schema.ts';
import { defaultConfig } from './default.ts';
import { formatIssues, unknownKeyErrorMap } from './issues.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
  /** Each problem on its own (`sites[0].upstreams.read: must be …`), as the message lists them. */
  readonly problems: readonly string[];
  constructor(message: string, problems: readonly string[] = [message]) {
    super(message);
    this.problems = problems;
  }
}

/** Validates config data; the error lists every bad field by its path, e.g. `sites[0].upstreams.read`. */
export function parseConfig(data: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(data, { error: unknownKeyErrorMap, reportInput: true });
  if (result.success) return result.data;
  const problems = formatIssues(result.error.issues);
  throw new ConfigError(`${source} is invalid:\n${problems.map((line) => `  ${line}`).join('\n')}`, problems);
}

/**
 * The config file's text: JSON, with comments (`//`, `/* … *\/`) and trailing commas allowed (JSONC,
 * as VS Code's settings and tsconfig.json; read with Microsoft's `jsonc-parser`, which works
 * unchanged on every runtime, workerd included). A syntax error names line and column and shows
 * the line. YAML is not read (README, "Configuration"): a `.yaml`/`.yml` file that is no JSON says so.
 */
export function parseConfigText(text: string, source = 'config'): Config {
  return parseConfig(parseJsoncText(text, source), source);
}

/** The data of a JSONC text, or a ConfigError listing each syntax error with its line and column. */
export function parseJsoncText(text: string, source = 'config'): unknown {
  const errors: ParseError[] = [];
  const data: unknown = parseJsonc(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
  if (!errors.length) return data;
  // The first few: after one mistake the parser's later complaints are mostly echoes of it.
  // One per place (the parser may report two at one offset).
  const first = errors.filter((error, i) => errors.findIndex((other) => other.offset === error.offset) === i);
  const problems = first.slice(0, 3).map((error) => syntaxProblem(text, source, error));
  if (/\.ya?ml$/i.test(source)) {
    problems.push(
      `  ${source} looks like YAML, which the router does not read: write it as JSON (comments and trailing commas are fine), e.g. \`yq -o=json ${source}\``,
    );
  }
  throw new ConfigError(`${source} is not valid JSON:\n${problems.join('\n')}`, problems);
}

const WORDS: Record<string, string> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'not a number',
  PropertyNameExpected: 'a property name in double quotes was expected',
  ValueExpected: 'a value was expected',
  ColonExpected: 'a colon was expected',
  CommaExpected: 'a comma was expected before this',
  CloseBraceExpected: 'a closing "}" was expected',
  CloseBracketExpected: 'a closing "]" was expected',
  EndOfFileExpected: 'the text goes on after the end of the JSON value',
  InvalidCommentToken: 'not a comment',
  UnexpectedEndOfComment: 'a /* comment is not closed',
  UnexpectedEndOfString: 'a string is not closed (strings are in double quotes, on one line)',
  UnexpectedEndOfNumber: 'a number ends too early',
  InvalidUnicode: 'a \\u escape needs four hex digits',
  InvalidEscapeCharacter: 'unknown escape after "\\"',
  InvalidCharacter: 'a control character (tab, new line) inside a string: write it as an escape',
};

/** `router.json:3:12: a comma was expected before this`, then the line and a caret under the column. */
function syntaxProblem(text: string, source: string, error: ParseError): string {
  const before = text.slice(0, error.offset);
  const line = before.split('\n').length;
  const lineStart = before.lastIndexOf('\n') + 1;
  const lineEnd = text.indexOf('\n', lineStart);
  const lineText = text.slice(lineStart, lineEnd < 0 ? undefined : lineEnd).replace(/\r$/, '');
  const column = error.offset - lineStart + 1;
  const atEnd = error.offset >= text.length;
  const code = printParseErrorCode(error.error);
  const gutter = `${line} | `;
  // Tabs keep their width under the caret.
  const pad = lineText.slice(0, column - 1).replace(/[^\t]/g, ' ');
  return (
    `  ${source}:${line}:${column}: ${WORDS[code] ?? code}${atEnd ? ' (at the end of the file)' : ''}\n` +
    `    ${gutter}${lineText}\n` +
    `    ${' '.repeat(gutter.length)}${pad}^`
  );
}

export const loadDefaultConfig = (): Config => parseConfig(defaultConfig, 'default config');
