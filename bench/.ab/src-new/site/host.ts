/** Splits `Host` values: `Example.com:8080` → { name: 'example.com', port: '8080' }, `[::1]:80` → { name: '[::1]', port: '80' }. */
export function splitHost(host: string): { name: string; port: string | undefined } {
  const lower = host.trim().toLowerCase();
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(lower);
  const name = (match?.[1] ?? lower).replace(/\.$/, '');
  return { name, port: match?.[2] || undefined };
}

export type HostMatcher = (host: string) => boolean;

/**
 * One `hosts` entry: exact name, or `*.example.com` (any subdomain, not the apex). The port
 * only counts when the entry names one, so `idocker.io` answers on :80, :443 and :5000 alike.
 */
export function compileHostPattern(pattern: string): HostMatcher {
  const expected = splitHost(pattern);
  const wildcard = expected.name.startsWith('*.') ? expected.name.slice(1) : undefined;
  return (host) => {
    const actual = splitHost(host);
    if (expected.port !== undefined && actual.port !== expected.port) return false;
    if (wildcard) return actual.name.endsWith(wildcard) && actual.name.length > wildcard.length;
    return actual.name === expected.name;
  };
}
