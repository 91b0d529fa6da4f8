import type { Format } from './format.ts';

/**
 * Nexus yum repositories. `dnf` and `yum` only read: `<baseurl>/repodata/repomd.xml`, the metadata it names
 * (`repodata/<sha256>-primary.xml.gz`, `-filelists.xml.gz`, …) and then each RPM at its `location href`, which is
 * relative to the baseurl (Nexus writes no absolute URL into yum metadata), so nothing is mapped. Uploads are
 * `PUT` of an `.rpm` (`curl --upload-file`) at least "repodata depth" folders deep, which Nexus checks (its yum
 * docs: "Nexus Repository will reject RPMs with less depth"), and `DELETE`; only the hosted repository takes
 * them, a group takes reads only. Nexus rebuilds a hosted repository's metadata some time after an upload
 * (about 60 s), so a read right after a `PUT` does not list the RPM yet: the router cannot change that.
 */
export const yum: Format = {
  name: 'yum',
  title: 'yum',
  // dnf prints a failed download's status code only; the people who read the router's errors use curl.
  errorFormat: 'text',
  optionalRoles: {},
  // Nexus answers a repository's root with its "browsing is not supported" page (200, BrowseUnsupportedHandler,
  // which every recipe routes), 401 when anonymous reads are off. Not repodata/repomd.xml: with a repodata depth
  // above 0 there is none at the root, and a hosted repository has none before its first RPM. A 404 is no yum
  // repository (a misspelt repository name answers 404 "Repository not found").
  health: { path: '/', statuses: [200, 401] },
  nginx: {
    repository: /^yum/i,
    adopt: true,
    adoptNote:
      'methods other than GET, HEAD, PUT and DELETE get 405 from the router itself, with a line saying how to upload an RPM ' +
      '(nginx sent them to hosted, which answers 405 too); its errors are plain text, and its health check wants 200 or 401 from the repository root',
  },
  rules: [
    // dnf and yum: repodata/repomd.xml, the metadata it names, RPMs at their relative location href.
    { methods: ['GET', 'HEAD'], to: 'read' },
    // Uploads (`curl --upload-file x.rpm …/<path at least repodata depth deep>/x.rpm`) and deletes. Nexus checks the
    // path's depth and, with its default "strict" deploy policy, that the file is an RPM or yum metadata.
    { methods: ['PUT', 'DELETE'], to: 'write' },
    // No yum client sends anything else; a form upload (`curl -F`) is the usual mistake.
    { to: 'deny' },
  ],
  refusal:
    'a Nexus yum repository takes GET and HEAD (dnf, yum), PUT of an RPM (curl --upload-file FILE.rpm URL, at least "repodata depth" ' +
    'folders deep) and DELETE',
  roleWords: {
    read: 'the yum group repository: repodata and RPMs for dnf and yum',
    write: 'the yum hosted repository: RPM uploads (PUT) and deletes; its metadata is rebuilt about 60 s after an upload',
  },
};
