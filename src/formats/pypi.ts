import type { Format } from './format.ts';

/** pip and twine: PEP 503/691 indexes, the JSON API, `twine upload`. */
export const pypi: Format = {
  name: 'pypi',
  title: 'PyPI',
  errorFormat: 'plain',
  showsReasonPhrase: true,
  optionalRoles: {},
  health: { path: '/' },
  // PEP 503 pages are HTML (links in `href`), PEP 691 pages and the JSON API are JSON.
  bodyUrls: ['html', 'json'],
  nginx: { repository: /^pypi/i, adopt: false },
  rules: [
    // Index pages (PEP 503 HTML, PEP 691 JSON) and the JSON API: absolute file links that point
    // into an upstream are mapped to the public name; relative ones (`../../packages/…`) resolve
    // against the public URL by themselves.
    { methods: ['GET', 'HEAD'], path: '/simple/**', to: 'read', mapUrls: true },
    { methods: ['GET', 'HEAD'], path: '/pypi/**', to: 'read', mapUrls: true },
    // Files (`/packages/…`) and anything else read.
    { methods: ['GET', 'HEAD'], to: 'read' },
    // `twine upload`: a multipart POST to the repository root (`:action=file_upload`).
    { to: 'write' },
  ],
};
