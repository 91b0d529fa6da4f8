import type { Format } from './format.ts';

/**
 * Nexus raw repositories: files at any path, uploaded with `PUT` (`curl --upload-file`), removed with
 * `DELETE`, read with `GET`/`HEAD`. Nexus's raw hosted handler takes exactly those four methods and answers
 * any other with 405 (sonatype/nexus-public, RawContentHandler); a raw group takes reads only.
 */
export const raw: Format = {
  name: 'raw',
  title: 'raw',
  // curl, wget and scripts print a body as it is: one line of text, not JSON.
  errorFormat: 'text',
  optionalRoles: {},
  // A raw repository's root answers 200 when it holds an index.html, else 404 ("You can't browse this way",
  // Nexus's RawIndexHtmlForwardHandler), 401 when anonymous reads are off: all three are a live repository.
  health: { path: '/', statuses: [200, 401, 404] },
  nginx: {
    repository: /^raw/i,
    adopt: true,
    adoptNote:
      'methods other than GET, HEAD, PUT and DELETE get 405 from the router itself, with a line saying how to upload (nginx sent them to hosted, ' +
      'where Nexus answers 405 too); its errors are plain text, and its health check counts 404 from the repository root as up',
  },
  rules: [
    // Downloads.
    { methods: ['GET', 'HEAD'], to: 'read' },
    // Uploads (`curl --upload-file`, `curl -T`) and deletes.
    { methods: ['PUT', 'DELETE'], to: 'write' },
    // Nothing else is a raw request: a `POST` (`curl -F file=@x`, `curl -d`) is the usual mistake, and
    // answered here with how to upload instead of hosted's bare 405.
    { to: 'deny' },
  ],
  refusal: 'a Nexus raw repository takes GET and HEAD (downloads), PUT (uploads: curl --upload-file FILE URL) and DELETE',
  roleWords: {
    read: 'the raw group repository: downloads',
    write: 'the raw hosted repository: uploads (PUT) and deletes',
  },
};
