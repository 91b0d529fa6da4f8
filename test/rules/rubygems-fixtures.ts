/**
 * The request lines RubyGems 3.3.15 (`gem`) and Bundler 2.3.15 (Debian 12) send to a RubyGems site, in
 * the order test/e2e/rubygems.test.ts runs them, with the role each belongs to. That suite checks on every
 * run that what nginx logged through the router is exactly these lines (after the repository prefix).
 * Captured against a group whose index is `gem generate_index`'s (no compact index, no dependency API:
 * 404, as Nexus answered `info/` in nexus-public#108), so both clients fall back to the full index:
 * - `gem push X.gem --host URL/`: `POST //api/v1/gems` (RubyGems 3.3 joins `"#{host}/api/v1/gems"`);
 *   `--host URL`: `POST /api/v1/gems`; body the .gem, `Authorization` the credentials file's key;
 * - `gem install rr-hello --clear-sources --source URL/`: the `HEAD /` probe, `info/<name>` (404), the
 *   legacy specs, each gemspec, each .gem (rr-dep from the group's "proxy" member);
 * - `bundle install` (a Gemfile whose source is URL/): the compact index `versions` (404),
 *   `/api/v1/dependencies` (404), the legacy specs, gemspecs, .gems;
 * - `gem yank rr-hello -v 1.0.0 --host URL/`: `DELETE //api/v1/gems/yank`, form fields in the body;
 * - `gem list --remote --all rr- --source URL/`: `specs.4.8.gz`.
 */
export interface RubyGemsFixture {
  method: string;
  path: string;
  /** What ran, for messages. */
  command: string;
  expected: 'read' | 'write';
}

const INSTALL = 'gem install rr-hello -v 1.0.0 --clear-sources --source URL/';
const BUNDLE = 'bundle install (source "URL/", gem "rr-hello", "1.1.0")';

export const RUBYGEMS_REQUESTS: readonly RubyGemsFixture[] = [
  { method: 'POST', path: '//api/v1/gems', command: 'gem push rr-hello-1.0.0.gem --host URL/', expected: 'write' },
  { method: 'POST', path: '/api/v1/gems', command: 'gem push rr-hello-1.1.0.gem --host URL', expected: 'write' },
  { method: 'POST', path: '/api/v1/gems', command: 'gem push rr-hello-1.0.0.gem --host URL (again: 400 from hosted)', expected: 'write' },
  { method: 'HEAD', path: '/', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/info/rr-hello', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/prerelease_specs.4.8.gz', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/specs.4.8.gz', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/quick/Marshal.4.8/rr-hello-1.0.0.gemspec.rz', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/quick/Marshal.4.8/rr-dep-2.0.0.gemspec.rz', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/gems/rr-hello-1.0.0.gem', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/gems/rr-dep-2.0.0.gem', command: INSTALL, expected: 'read' },
  { method: 'GET', path: '/versions', command: BUNDLE, expected: 'read' },
  { method: 'GET', path: '/api/v1/dependencies', command: BUNDLE, expected: 'read' },
  { method: 'GET', path: '/specs.4.8.gz', command: BUNDLE, expected: 'read' },
  { method: 'GET', path: '/prerelease_specs.4.8.gz', command: BUNDLE, expected: 'read' },
  { method: 'GET', path: '/quick/Marshal.4.8/rr-hello-1.1.0.gemspec.rz', command: BUNDLE, expected: 'read' },
  { method: 'GET', path: '/quick/Marshal.4.8/rr-dep-2.0.0.gemspec.rz', command: BUNDLE, expected: 'read' },
  { method: 'GET', path: '/gems/rr-dep-2.0.0.gem', command: BUNDLE, expected: 'read' },
  { method: 'GET', path: '/gems/rr-hello-1.1.0.gem', command: BUNDLE, expected: 'read' },
  { method: 'DELETE', path: '//api/v1/gems/yank', command: 'gem yank rr-hello -v 1.0.0 --host URL/', expected: 'write' },
  { method: 'GET', path: '/specs.4.8.gz', command: 'gem list --remote --all rr- --clear-sources --source URL/', expected: 'read' },
];
