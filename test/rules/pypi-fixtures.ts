/**
 * What the real Python clients send, request by request, captured by test/e2e/pypi.test.ts (which
 * fails when a client's sequence changes, or a request reaches another repository than `expected`
 * names): Debian bookworm's twine 4.0.2 (requests 2.28.1, requests-toolbelt 0.10.1) and pip 23.0.1
 * in a fresh venv of Debian's python3 3.11.2, against `http://127.0.0.1:<router port>/`, in this
 * order, by one client:
 *
 * 1. `twine upload --repository-url http://host/ -u u -p p <wheel> <sdist>`: one POST per file to
 *    the repository URL as given (here the root), `:action=file_upload` and `protocol_version=1`
 *    as form fields (not in the query), the file last as `content`; Basic credentials on the first
 *    request (no 401 round trip); no GET before or after (twine only asks PyPI itself whether a
 *    file exists).
 * 2. The wheel again (`400 File already exists.`), then both files with `--skip-existing`: the same
 *    POSTs, nothing else.
 * 3. `pip install --index-url http://host/simple --trusted-host host router.demo`: the project page
 *    under its PEP 503 normalized name (`router-demo`, whatever the spelling asked for, with a
 *    trailing slash), asking for PEP 691 JSON first (`Accept` below); then the file its link names
 *    (resolved against the page URL, or as mapped by the router when absolute). No `/simple/`
 *    index, no HEAD, no `.metadata` (PEP 658) request when the page offers none. The same two
 *    requests whatever the format (HTML, JSON) and the links (relative, absolute, internal).
 * 4. `pip install --no-binary :all: Router-Demo`: the same with the sdist; building it (in-tree
 *    backend, `requires = []`) asks the index nothing.
 *
 * `expected`: `write` (hosted) or `read` (the group). `contentType` (multipart boundary replaced
 * by `…`) and `accept` are as the origin received them through the router.
 */
export interface PypiRequest {
  step: string;
  method: string;
  path: string;
  expected: 'read' | 'write';
  contentType?: string;
  accept?: string;
}

const WHEEL = 'Router_Demo-1.0.0-py3-none-any.whl';
const SDIST = 'Router_Demo-1.0.0.tar.gz';
/** pip 23.0.1's Accept for index pages: PEP 691 JSON, then PEP 691 HTML, then plain HTML. */
const PIP_INDEX_ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01';
const UPLOAD = { method: 'POST', path: '/', expected: 'write', contentType: 'multipart/form-data; boundary=…', accept: '*/*' } as const;

const pip = (step: string, file: string): PypiRequest[] => [
  { step, method: 'GET', path: '/simple/router-demo/', expected: 'read', accept: PIP_INDEX_ACCEPT },
  { step, method: 'GET', path: `/packages/router-demo/1.0.0/${file}`, expected: 'read', accept: '*/*' },
];

export const PYPI_REQUESTS: PypiRequest[] = [
  // twine upload <wheel> <sdist>
  { step: 'twine upload', ...UPLOAD },
  { step: 'twine upload', ...UPLOAD },
  // the wheel again: 400 File already exists.
  { step: 'twine upload (again)', ...UPLOAD },
  // --skip-existing <wheel> <sdist>: two 400s, both skipped
  { step: 'twine upload --skip-existing (again)', ...UPLOAD },
  { step: 'twine upload --skip-existing (again)', ...UPLOAD },
  ...pip('pip install (HTML, relative)', WHEEL),
  ...pip('pip install (HTML, absolute)', WHEEL),
  ...pip('pip install (HTML, internal)', WHEEL),
  ...pip('pip install (JSON, relative)', WHEEL),
  ...pip('pip install (JSON, absolute)', WHEEL),
  ...pip('pip install (JSON, internal)', WHEEL),
  ...pip('pip install --no-binary (HTML, absolute)', SDIST),
];
