import type { Format } from './format.ts';

/**
 * Nexus RubyGems repositories: `gem push` (`POST /api/v1/gems`, the .gem as the body) and `gem yank`
 * (`DELETE /api/v1/gems/yank`, form fields `gem_name` and `version`) write to hosted; everything else is a
 * read of the group: gem's `HEAD /` probe, the legacy index (`specs.4.8.gz`, `latest_specs.4.8.gz`,
 * `prerelease_specs.4.8.gz`, `quick/Marshal.4.8/<name>-<version>.gemspec.rz`), `gems/<name>-<version>.gem`,
 * Bundler's compact index (`versions`, `info/<name>`) and `/api/v1/dependencies`. None of them carries an
 * absolute URL, so nothing is mapped. `Authorization` passes as sent: Nexus has no API keys and takes
 * `Basic <base64 user:password>` as the key (sonatype/nexus-ruby-support#62).
 */
export const rubygems: Format = {
  name: 'rubygems',
  title: 'RubyGems',
  // gem push and gem yank print the answer's body as it is (`say response.body`): one line of text, not JSON.
  errorFormat: 'text',
  optionalRoles: {},
  // The repository root, which gem itself asks first (`HEAD /`): Nexus answers it with its "browsing is not
  // supported" page (200; BrowseUnsupportedHandler), or 401 when anonymous reads are off. A 404 is a misspelt
  // repository ("Repository not found"): down. No index file is a health path: a proxy group's specs.4.8.gz
  // is megabytes, merged anew.
  health: { path: '/', statuses: [200, 401] },
  nginx: {
    // rubygems-hosted, gems-group (the names src/import/nginx.ts also reads as "not docker").
    repository: /^(ruby)?gems/i,
    adopt: true,
    adoptNote:
      'only gem push (POST /api/v1/gems) and gem yank (DELETE /api/v1/gems/yank) go to hosted, every other request to the group ' +
      '(nginx sent every method but GET and HEAD to hosted), and its errors are plain text, which gem prints',
    otherMethodsNoted: true,
    // `location /api/v1/gems { proxy_pass …/rubygems-hosted/api/v1/gems; }` beside `location / { … rubygems-group/; }`.
    writePaths: [{ path: '/api/v1/gems', strip: false }],
  },
  rules: [
    // gem push. RubyGems 3.3 joins `"#{host}/api/v1/gems"`, so `--host https://gems.example.com/` (a trailing
    // slash, as Nexus's repository URLs are usually written) sends `//api/v1/gems`: taken as it is, and
    // forwarded as sent, so hosted sees what it would see without the router.
    { methods: ['POST'], path: '/api/v1/gems', to: 'write' },
    { methods: ['POST'], path: '//api/v1/gems', to: 'write' },
    // gem yank, the same two ways.
    { methods: ['DELETE'], path: '/api/v1/gems/yank', to: 'write' },
    { methods: ['DELETE'], path: '//api/v1/gems/yank', to: 'write' },
    // Everything else reads from the group: gem install, bundle install, gem list -r, gem fetch.
    { to: 'read' },
  ],
  roleWords: {
    read: 'the RubyGems group repository: gem install, bundle install, indexes and .gem files',
    write: 'the RubyGems hosted repository: gem push and gem yank',
  },
};
