/**
 * Path patterns for rules: `*` is one path segment, `**` is any run of characters including `/`
 * (docker repository names have several segments: `team/app/api`). Everything else is literal.
 * The first `**` is captured: it is the rule's subject (the repository a push session and upload
 * pinning are about), read with `subjectOf`.
 */
export function compilePathPattern(pattern: string): RegExp {
  let source = '';
  let captured = false;
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '*' && pattern[i + 1] === '*') {
      source += captured ? '.*' : '(.*)';
      captured = true;
      i++;
    } else if (char === '*') {
      source += '[^/]+';
    } else {
      source += char.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

/** The text the pattern's first `**` matched in `path`, or undefined (no `**`, no match, empty). */
export function subjectOf(pattern: RegExp, path: string): string | undefined {
  return pattern.exec(path)?.[1] || undefined;
}
