/**
 * The request lines `dnf` and `curl` send to a yum site, in the order test/e2e/yum.test.ts runs them (that suite
 * checks, on every run, that what nginx logged through the router is exactly these lines, minus the one the
 * router refuses itself; the metadata's checksums, which change with every build, left out), with the role each
 * belongs to. Captured with dnf 4.14.0 (librepo; User-Agent `libdnf (Debian GNU/Linux 12; generic; Linux.x86_64)`)
 * and curl 7.88.1, baseurl `…/el9/` (a Nexus repodata depth of 1), each dnf run with an empty cache:
 * - `curl --upload-file rr-hello-1.0-1.noarch.rpm …/el9/noarch/rr-hello-1.0-1.noarch.rpm`: PUT, body the RPM;
 * - `dnf list --available`: `repodata/repomd.xml`, then the files it names (primary, filelists, and the
 *   updateinfo that `mergerepo_c` writes into a merged repository), fetched in parallel;
 * - `dnf install rr-hello rr-extra`: the same metadata, then each RPM at its `location href`, relative to the
 *   baseurl (`noarch/…` from hosted, `Packages/…` from the proxy member: the group serves both);
 * - `curl -F file=@rr-hello-1.0-1.noarch.rpm …/el9/noarch/` (a form upload, the usual mistake: Nexus takes PUT):
 *   POST, refused by the router with 405 (`deny`), nothing forwarded;
 * - `curl -X DELETE …`: DELETE.
 */
export interface YumFixture {
  method: string;
  path: string;
  /** What ran, for messages. */
  command: string;
  expected: 'read' | 'write' | 'deny';
}

const RPM = '/el9/noarch/rr-hello-1.0-1.noarch.rpm';
const PROXY_RPM = '/el9/Packages/rr-extra-1.0-1.noarch.rpm';

/** What dnf fetches for the repository's metadata, with the checksums of one capture. */
const metadata = (command: string, primary: string, filelists: string): YumFixture[] => [
  { method: 'GET', path: '/el9/repodata/repomd.xml', command, expected: 'read' },
  { method: 'GET', path: `/el9/repodata/${primary}-primary.xml.gz`, command, expected: 'read' },
  { method: 'GET', path: `/el9/repodata/${filelists}-filelists.xml.gz`, command, expected: 'read' },
  { method: 'GET', path: '/el9/repodata/65c4f66e2808d328890505c3c2f13bb35a96f457d1c21a6346191c4dc07e6080-updateinfo.xml.gz', command, expected: 'read' },
];
const BEFORE = [
  '3f21ba2938680a61ae5ca968ee6141840b512908f7679ff01401598280e4d403',
  'c798efa5beffb569ad5c61db117b14b18c4b00fa918e1545dc2837e2f3e24a15',
] as const;
const AFTER = ['01908a5eca7d4550e4fced11b1db30b1b99aad0cdc92fe9574ab04e0f305bb1f', 'e46ca4d26fe5ee8ad4e0a7157eedaa3b7d6c1e1891f8e3aa9aa549cf274adaad'] as const;

export const YUM_REQUESTS: readonly YumFixture[] = [
  { method: 'PUT', path: RPM, command: 'curl --upload-file rr-hello-1.0-1.noarch.rpm …/el9/noarch/rr-hello-1.0-1.noarch.rpm', expected: 'write' },
  ...metadata('dnf list --available (right after the upload: metadata not rebuilt yet)', ...BEFORE),
  ...metadata('dnf list --available (polling after the rebuild)', ...AFTER),
  ...metadata('dnf install rr-hello rr-extra', ...AFTER),
  { method: 'GET', path: PROXY_RPM, command: 'dnf install rr-hello rr-extra (held by the proxy member)', expected: 'read' },
  { method: 'GET', path: RPM, command: 'dnf install rr-hello rr-extra (uploaded to hosted)', expected: 'read' },
  { method: 'POST', path: '/el9/noarch/', command: 'curl -F file=@rr-hello-1.0-1.noarch.rpm …/el9/noarch/', expected: 'deny' },
  { method: 'DELETE', path: RPM, command: 'curl -X DELETE …/el9/noarch/rr-hello-1.0-1.noarch.rpm', expected: 'write' },
  ...metadata('dnf list --available (after the delete and a rebuild)', ...BEFORE),
];
