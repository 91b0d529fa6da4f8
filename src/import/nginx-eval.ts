import type { Arg, Directive } from './nginx-syntax.ts';

/**
 * The part of nginx's rewrite module the method split is made of, run once per request method:
 * `set`, `if ($request_method …)`, `break`, `return`, `map $request_method $var { … }`, and the
 * `proxy_pass` (or `return`) that ends up in force. Anything else that decides where a request
 * goes (an `if` on another variable, `rewrite`) is reported, and treated as nginx treats a
 * condition that does not hold for an ordinary request.
 */

/** Methods the split is evaluated for (role per method). */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
/** Methods a positive `if ($request_method …) { return 4xx; }` may name (turned into a deny rule). */
export const ALL_METHODS = [...METHODS, 'TRACE', 'CONNECT', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK'];

export interface MapDef {
  readonly source: string;
  readonly directive: Directive;
  readonly exact: ReadonlyMap<string, string>;
  readonly regexes: ReadonlyArray<{ readonly re: RegExp; readonly value: string }>;
  readonly fallback: string;
  /** Why this map cannot be evaluated per method (source is not $request_method, a bad regex). */
  readonly unknown?: string;
}

export interface Problem {
  readonly directive: Directive;
  readonly why: string;
}

/** What nginx does with one request method in one location. */
export type Outcome =
  | { readonly kind: 'proxy'; readonly value: string; readonly directive: Directive; readonly viaVariables: boolean }
  | { readonly kind: 'return'; readonly status: number; readonly directive: Directive }
  | { readonly kind: 'deny'; readonly directive: Directive }
  | { readonly kind: 'none' };

/** `if (…)` arguments without their brackets: `($a`, `=`, `b)` → `$a`, `=`, `b`. */
export function conditionArgs(directive: Directive): string[] {
  const args = directive.args.map((arg) => ({ ...arg }));
  const first = args[0];
  if (first && !first.quoted && first.value.startsWith('(')) first.value = first.value.slice(1);
  const last = args[args.length - 1];
  if (last && !last.quoted && last.value.endsWith(')')) last.value = last.value.slice(0, -1);
  return args.filter((arg: Arg) => arg.quoted || arg.value !== '').map((arg) => arg.value);
}

export function nginxRegex(pattern: string, caseless: boolean): RegExp | undefined {
  try {
    return new RegExp(pattern, caseless ? 'i' : '');
  } catch {
    return undefined;
  }
}

/** A condition on one variable as a predicate of its value; undefined when nginx's meaning is not modelled. */
export function compileCondition(args: readonly string[]): { variable: string; test: (value: string) => boolean; negated: boolean } | undefined {
  const [variable, op, operand] = args;
  if (!variable?.startsWith('$')) return undefined;
  const name = variable.replace(/^\$\{?|\}$/g, '');
  if (args.length === 1) return { variable: name, test: (value) => value !== '' && value !== '0', negated: false };
  if (args.length !== 3 || operand === undefined) return undefined;
  switch (op) {
    case '=':
      return { variable: name, test: (value) => value === operand, negated: false };
    case '!=':
      return { variable: name, test: (value) => value !== operand, negated: true };
    case '~':
    case '~*':
    case '!~':
    case '!~*': {
      const re = nginxRegex(operand, op.endsWith('*'));
      if (!re) return undefined;
      const negated = op.startsWith('!');
      return { variable: name, test: (value) => re.test(value) !== negated, negated };
    }
    default:
      return undefined;
  }
}

export function parseMap(directive: Directive): { target: string; map: MapDef } | undefined {
  const [source, target] = directive.args.map((arg) => arg.value);
  if (!source || !target || !directive.block) return undefined;
  const exact = new Map<string, string>();
  const regexes: Array<{ re: RegExp; value: string }> = [];
  let fallback = '';
  let unknown: string | undefined = source === '$request_method' ? undefined : `maps ${source}, not $request_method`;
  for (const entry of directive.block) {
    const value = entry.args[0]?.value ?? '';
    if (entry.name === 'hostnames' || entry.name === 'volatile') continue;
    if (entry.name === 'default') fallback = value;
    else if (entry.name.startsWith('~')) {
      const caseless = entry.name.startsWith('~*');
      const re = nginxRegex(entry.name.slice(caseless ? 2 : 1), caseless);
      if (re) regexes.push({ re, value });
      else unknown ??= `regular expression ${entry.name} (line ${entry.line}) is not one JavaScript reads alike`;
    } else exact.set(entry.name.replace(/^\\/, ''), value);
  }
  return { target: target.replace(/^\$/, ''), map: { source, directive, exact, regexes, fallback, unknown } };
}

/** Variables whose value is the request's own (kept as written: a `proxy_pass` using them passes the request URI). */
const PASSTHROUGH = new Set(['request_uri', 'uri', 'is_args', 'args', 'query_string', 'document_uri']);

export class MethodRun {
  private readonly vars = new Map<string, string | undefined>();
  /** Variables whose value could not be known, with why. */
  readonly unknownVars = new Map<string, string>();

  constructor(
    readonly method: string,
    private readonly maps: ReadonlyMap<string, MapDef>,
    private readonly report: (problem: Problem) => void,
  ) {}

  /** `$name`/`${name}` replaced by what this method's run set; unknown ones stay as written. */
  expand(text: string, depth = 0): string {
    return text.replace(/\$(?:\{(\w+)\}|(\w+))/g, (whole, braced: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare)!;
      const value = this.variable(name, depth);
      return value ?? whole;
    });
  }

  variable(name: string, depth = 0): string | undefined {
    if (name === 'request_method') return this.method;
    if (this.vars.has(name)) return this.vars.get(name);
    const map = this.maps.get(name);
    if (map && depth < 8) {
      if (map.unknown) {
        this.unknownVars.set(name, `$${name} comes from a map that ${map.unknown} (${map.directive.file}:${map.directive.line})`);
        return undefined;
      }
      const value = map.exact.get(this.method) ?? map.regexes.find(({ re }) => re.test(this.method))?.value ?? map.fallback;
      return this.expand(value, depth + 1);
    }
    if (!PASSTHROUGH.has(name)) this.unknownVars.set(name, `$${name} is not set from the request method`);
    return undefined;
  }

  /** Runs the rewrite directives of one level (server, then location) and returns what decides the request. */
  run(levels: ReadonlyArray<readonly Directive[]>, locationProxy: Directive | undefined): Outcome {
    let proxy = locationProxy;
    let outcome: Outcome | undefined;
    const exec = (list: readonly Directive[], inLocation: boolean): 'stop' | undefined => {
      for (const directive of list) {
        switch (directive.name) {
          case 'set': {
            const [name, value] = directive.args.map((arg) => arg.value);
            if (name) this.vars.set(name.replace(/^\$/, ''), value === undefined ? '' : this.expand(value));
            break;
          }
          case 'break':
            return 'stop';
          case 'return': {
            const status = Number(directive.args[0]?.value);
            outcome = { kind: 'return', status: Number.isInteger(status) ? status : 302, directive };
            return 'stop';
          }
          case 'if': {
            const args = conditionArgs(directive);
            const condition = compileCondition(args);
            let holds = false;
            if (condition?.variable === 'request_method') holds = condition.test(this.method);
            else if (condition && this.maps.has(condition.variable) && !this.maps.get(condition.variable)!.unknown) {
              holds = condition.test(this.variable(condition.variable) ?? '');
            } else {
              this.report({ directive, why: conditionWhy(args) });
              break;
            }
            if (!holds) break;
            const inner = directive.block ?? [];
            const innerProxy = inner.find((d) => d.name === 'proxy_pass');
            if (innerProxy && inLocation) proxy = innerProxy;
            if (exec(inner, inLocation) === 'stop') return 'stop';
            break;
          }
          default:
            break;
        }
      }
      return undefined;
    };
    for (let i = 0; i < levels.length; i++) {
      if (exec(levels[i]!, i === levels.length - 1) === 'stop') break;
    }
    if (outcome) return outcome;
    if (!proxy) return { kind: 'none' };
    const raw = proxy.args[0]?.value ?? '';
    return { kind: 'proxy', value: this.expand(raw), directive: proxy, viaVariables: /\$/.test(raw) };
  }
}

function conditionWhy(args: readonly string[]): string {
  const variable = args[0] ?? '';
  if (/^\$http_user_agent$/.test(variable)) return 'the router does not route or refuse by User-Agent';
  if (/^\$(scheme|https)$/.test(variable)) return 'a condition on the scheme other than the plain-HTTP → HTTPS redirect';
  if (/^-[fdex]$|^!-[fdex]$/.test(variable)) return 'file tests are not translated';
  return `the router routes by method, path and query only; this condition (${args.join(' ')}) is not translated (nginx went on as if it did not hold)`;
}
