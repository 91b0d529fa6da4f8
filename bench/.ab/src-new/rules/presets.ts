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
    // A push in progress: POST/PATCH/PUT, and GET of its progress, must all reach the same registry.
    { path: '/v2/**/blobs/uploads/**', to: 'write' },
    // "Do you already have this layer?" asked during a push: the group may hold the blob while
    // hosted does not, and the push would then fail on the manifest ("blob unknown").
    { methods: ['HEAD'], path: '/v2/**/blobs/*', to: 'write' },
    { methods: ['GET', 'HEAD'], path: '/v2/', to: 'ping' },
    { methods: ['GET', 'HEAD'], path: '/v2/token', to: 'token' },
    { methods: ['GET', 'HEAD'], path: '/v2/**/manifests/*', to: 'read' },
    { methods: ['GET'], path: '/v2/**/blobs/*', to: 'read' },
    { methods: ['GET'], path: '/v2/**/tags/list', to: 'read' },
    { methods: ['GET'], path: '/v2/_catalog', to: 'read' },
    { methods: ['GET', 'HEAD'], to: 'read' },
    { to: 'write' },
  ],
};
