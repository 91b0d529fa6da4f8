/**
 * nginx's configuration grammar, as `ngx_conf_read_token` reads it: words, `"…"` and `'…'`
 * strings, `;`, `{`, `}`, and `#` comments (only where a word may start). A word ends at white
 * space, `;` or `{` (but `${name}` is one word); `}` and `#` inside a word belong to it; `\` escapes
 * the next character, and `\"`, `\'`, `\\`, `\t`, `\r`, `\n` are unescaped. A closing quote must be
 * followed by white space, `;`, `{` or `)` (so `if ($x ~ "re")` works). Every directive keeps the
 * file and line it starts on.
 */

export interface Arg {
  readonly value: string;
  /** Written in quotes: never an operator or a bracket of an `if` condition. */
  readonly quoted: boolean;
}

export interface Directive {
  readonly name: string;
  readonly args: readonly Arg[];
  readonly file: string;
  readonly line: number;
  /** The directives inside `{ … }`; undefined for a simple directive ending in `;`. */
  readonly block?: readonly Directive[];
}

export class NginxSyntaxError extends Error {
  override name = 'NginxSyntaxError';
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
  }
}

interface Token {
  readonly kind: 'word' | ';' | '{' | '}';
  readonly value: string;
  readonly quoted: boolean;
  readonly line: number;
}

const SPACE = new Set([' ', '\t', '\r', '\n']);

function unquote(raw: string): string {
  return raw.replace(/\\(["'\\tnr])/g, (_, ch: string) => ({ t: '\t', n: '\n', r: '\r' })[ch] ?? ch);
}

export function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const ch = text[i]!;
    if (SPACE.has(ch)) {
      if (ch === '\n') line++;
      i++;
      continue;
    }
    if (ch === '#') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (ch === ';' || ch === '{' || ch === '}') {
      tokens.push({ kind: ch, value: ch, quoted: false, line });
      i++;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const start = line;
      let j = i + 1;
      while (j < n && text[j] !== ch) {
        if (text[j] === '\\' && j + 1 < n) j++;
        if (text[j] === '\n') line++;
        j++;
      }
      if (j >= n) throw new NginxSyntaxError(file, start, `unterminated ${ch === '"' ? 'double' : 'single'}-quoted string`);
      tokens.push({ kind: 'word', value: unquote(text.slice(i + 1, j)), quoted: true, line: start });
      i = j + 1;
      const next = text[i];
      if (next !== undefined && !SPACE.has(next) && next !== ';' && next !== '{' && next !== ')') {
        throw new NginxSyntaxError(file, line, `unexpected "${next}" after a quoted string`);
      }
      continue;
    }
    // A word: up to white space, ";" or "{" ("${" continues a variable name).
    let j = i;
    while (j < n) {
      const c = text[j]!;
      if (c === '\\' && j + 1 < n) {
        j += 2;
        continue;
      }
      if (SPACE.has(c) || c === ';') break;
      if (c === '{' && text[j - 1] !== '$') break;
      j++;
    }
    tokens.push({ kind: 'word', value: unquote(text.slice(i, j)), quoted: false, line });
    i = j;
  }
  return tokens;
}

/** Parses one file into its directives; throws NginxSyntaxError (file:line) where nginx would refuse it. */
export function parseNginx(text: string, file: string): Directive[] {
  const tokens = tokenize(text, file);
  let pos = 0;
  const lastLine = text.split('\n').length;

  function readBlock(openLine: number | undefined): Directive[] {
    const out: Directive[] = [];
    for (;;) {
      const first = tokens[pos];
      if (!first) {
        if (openLine !== undefined) throw new NginxSyntaxError(file, lastLine, `unexpected end of file, expecting "}" (block opened on line ${openLine})`);
        return out;
      }
      if (first.kind === '}') {
        if (openLine === undefined) throw new NginxSyntaxError(file, first.line, 'unexpected "}"');
        pos++;
        return out;
      }
      if (first.kind !== 'word') throw new NginxSyntaxError(file, first.line, `unexpected "${first.kind}"`);
      pos++;
      const args: Arg[] = [];
      for (;;) {
        const token = tokens[pos];
        if (!token) throw new NginxSyntaxError(file, lastLine, `unexpected end of file, expecting ";" or "}" after "${first.value}" (line ${first.line})`);
        pos++;
        if (token.kind === 'word') {
          args.push({ value: token.value, quoted: token.quoted });
        } else if (token.kind === ';') {
          out.push({ name: first.value, args, file, line: first.line });
          break;
        } else if (token.kind === '{') {
          out.push({ name: first.value, args, file, line: first.line, block: readBlock(token.line) });
          break;
        } else {
          throw new NginxSyntaxError(file, token.line, `unexpected "}": "${first.value}" (line ${first.line}) is missing its ";"`);
        }
      }
    }
  }

  return readBlock(undefined);
}

/** The directive as written (name and arguments, quoted ones in quotes), for reports. */
export function directiveText(directive: Directive): string {
  const args = directive.args.map((arg) => (arg.quoted || arg.value === '' || /\s/.test(arg.value) ? JSON.stringify(arg.value) : arg.value));
  const text = [directive.name, ...args].join(' ');
  const short = text.length > 120 ? `${text.slice(0, 117)}...` : text;
  return directive.block ? `${short} { … }` : `${short};`;
}
