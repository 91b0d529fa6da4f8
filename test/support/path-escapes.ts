/** Paths for the dot-segment guard (src/request/target.ts): shared by its unit test and the hardening suite. */

/** Each way a dot segment hides from a URL parser but not from some origin or ingress behind it. */
export const ESCAPES: ReadonlyArray<[string, string]> = [
  ['/v2/..%2f..%2f..%2fservice%2frest%2fv1%2fscript', '%2f decoded before dot segments (Jetty, Traefik, nginx)'],
  ['/v2/..%2F..%2F..%2Fservice%2Frest%2Fv1%2Fscript', 'upper-case %2F'],
  ['/v2/app%2f..%2f..%2f../x', 'dots after an encoded slash'],
  ['/v2/%2e%2e%2f%2e%2e%2fservice', 'everything encoded'],
  ['/v2/.%2e%2fx', 'half-encoded dots before an encoded slash'],
  ['/v2/..%5c..%5cservice', '%5c taken for a slash (Tomcat, IIS)'],
  ['/v2/app/..;/..;/service', 'path parameters dropped before dot segments (Tomcat, Jetty)'],
  ['/v2/app/..;jsessionid=1/x', 'a named path parameter'],
  ['/v2/app/..%3b/x', 'an encoded ;'],
  ['/v2/%252e%252e%252fservice', 'double encoding (an origin that decodes twice)'],
  ['/v2/%25252e%25252e/x', 'triple encoding'],
  ['/v2/a/%2e%2fb', 'an encoded single dot before an encoded slash'],
  ['/v2/a%00b/manifests/x', 'an encoded NUL (ends the path in some back ends)'],
  ['/v2/a%0d%0ab', 'encoded CR LF (header injection in back ends that log or redirect)'],
];

/** Encodings that real clients send and that must pass byte for byte. */
export const LEGITIMATE: readonly string[] = [
  '/@scope%2fname',
  '/@scope%2Fname/-/name-1.0.0.tgz',
  '/v2/team/app/blobs/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
  '/v2/team/app/manifests/v1.2.3',
  '/v2/a..b/c.d/tags/list',
  '/v2/team/app/blobs/uploads/6f0e%2Bx',
  '/simple/my.pkg/',
  '/com/example/app/1.0-SNAPSHOT/app-1.0-20261129.101010-1.jar',
  '/v2//double/slash',
  '/v2/%zz/malformed-escape',
];
