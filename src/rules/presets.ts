import type { RuleConfig } from '../config/schema.ts';

/**
 * Routing presets are data: ordered rules, first match wins. `to` names a role; besides `read` and
 * `write`, a preset may name `ping` and `token`, which each site maps to read or write.
 */
export const presets: Record<'docker' | 'generic', readonly RuleConfig[]> = {
  generic: [
    { methods: ['GET', 'HEAD'], to: 'read' },
    { to: 'write' },
  ],
  docker: [
    // A push in progress: POST/PATCH/PUT, and GET of its progress, must all reach the same registry,
    // and the same server of a pool (upload state is per node); it opens the client's push session.
    { path: '/v2/**/blobs/uploads/**', to: 'write', pin: true, session: 'open' },
    // "Do you already have this layer?" asked during a push: the group may hold the blob while
    // hosted does not, and the push would then fail on the manifest ("blob unknown"). Pulls fetch
    // blobs with GET, so a HEAD here means a push has begun.
    { methods: ['HEAD'], path: '/v2/**/blobs/*', to: 'write', pin: true, session: 'open' },
    { methods: ['GET', 'HEAD'], path: '/v2/', to: 'ping' },
    { methods: ['GET', 'HEAD'], path: '/v2/token', to: 'token' },
    // containerd asks "is this tag already there?" (HEAD) before the manifest PUT and skips the PUT
    // when the answer carries its digest: inside a push session that question goes to the write
    // side. Only HEAD: a GET is a pull, and stays on the group.
    { methods: ['HEAD'], path: '/v2/**/manifests/*', to: 'read', session: 'follow' },
    { methods: ['GET'], path: '/v2/**/manifests/*', to: 'read' },
    { methods: ['GET'], path: '/v2/**/blobs/*', to: 'read' },
    { methods: ['GET'], path: '/v2/**/tags/list', to: 'read' },
    { methods: ['GET'], path: '/v2/_catalog', to: 'read' },
    { methods: ['GET', 'HEAD'], to: 'read' },
    // The manifest PUT ends a push: on the server that holds its blobs.
    { path: '/v2/**/manifests/*', to: 'write', pin: true },
    { path: '/v2/**/blobs/*', to: 'write', pin: true },
    { to: 'write' },
  ],
};
