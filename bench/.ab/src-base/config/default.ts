import type { ConfigInput } from './schema.ts';

/** The original set-up: docker on one name (group for reads, hosted for writes), the Nexus UI on another. */
export const defaultConfig: ConfigInput = {
  listen: { host: '0.0.0.0', port: 8080 },
  sites: [
    {
      name: 'docker',
      hosts: ['idocker.io'],
      preset: 'docker',
      upstreams: { read: 'http://127.0.0.1:8082', write: 'http://127.0.0.1:8083' },
      maxBodySize: 0,
    },
    {
      name: 'web',
      hosts: ['repo.example.com'],
      preset: 'generic',
      upstream: 'http://127.0.0.1:8081',
      maxBodySize: '512m',
    },
  ],
};
