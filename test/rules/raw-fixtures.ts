/**
 * The request lines `curl` sends to a raw site, in the order test/e2e/raw.test.ts runs them (that suite
 * checks, on every run, that what nginx logged through the router is exactly these lines, minus the
 * ones the router refuses itself), with the role each belongs to. Captured with curl 7.88.1:
 * - `curl --upload-file app.tar.gz URL` and `curl -T app.tar.gz DIR/` (curl appends the file's name to a
 *   URL that ends in `/`): PUT, body the file;
 * - `curl -o FILE URL`: GET; `curl -I URL`: HEAD; `curl -X DELETE URL`: DELETE;
 * - `curl -F file=@app.tar.gz URL` (a form upload, the usual mistake: Nexus raw takes PUT): POST, refused
 *   by the router with 405 (`deny`), nothing forwarded.
 */
export interface RawFixture {
  method: string;
  path: string;
  /** What curl ran, for messages. */
  command: string;
  expected: 'read' | 'write' | 'deny';
}

export const RAW_REQUESTS: readonly RawFixture[] = [
  { method: 'PUT', path: '/tools/app-1.0.tar.gz', command: 'curl --upload-file app.tar.gz …/tools/app-1.0.tar.gz', expected: 'write' },
  { method: 'PUT', path: '/tools/nested/deeper/app.tar.gz', command: 'curl -T app.tar.gz …/tools/nested/deeper/', expected: 'write' },
  { method: 'GET', path: '/tools/app-1.0.tar.gz', command: 'curl -o out …/tools/app-1.0.tar.gz', expected: 'read' },
  { method: 'HEAD', path: '/tools/app-1.0.tar.gz', command: 'curl -I …/tools/app-1.0.tar.gz', expected: 'read' },
  { method: 'GET', path: '/vendor/lib-2.3.zip', command: 'curl -o out …/vendor/lib-2.3.zip (held by the proxy member)', expected: 'read' },
  { method: 'PUT', path: '/tools/app-1.0.tar.gz', command: 'curl --upload-file app-v2.tar.gz …/tools/app-1.0.tar.gz (overwrite)', expected: 'write' },
  { method: 'POST', path: '/tools/form.tar.gz', command: 'curl -F file=@app.tar.gz …/tools/form.tar.gz', expected: 'deny' },
  { method: 'DELETE', path: '/tools/app-1.0.tar.gz', command: 'curl -X DELETE …/tools/app-1.0.tar.gz', expected: 'write' },
  { method: 'GET', path: '/tools/app-1.0.tar.gz', command: 'curl …/tools/app-1.0.tar.gz (deleted: 404 from the group)', expected: 'read' },
];
