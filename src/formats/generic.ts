import type { Format } from './format.ts';

/** Anything else: GET/HEAD to the group, every other method to hosted (the nginx method split). */
export const generic: Format = {
  name: 'generic',
  title: 'generic',
  errorFormat: 'plain',
  optionalRoles: {},
  health: { path: '/' },
  // A site's own rules may say `mapUrls`: both kinds, as the body pass always did.
  bodyUrls: ['json', 'html'],
  rules: [{ methods: ['GET', 'HEAD'], to: 'read' }, { to: 'write' }],
  sessions: {
    name: 'session',
    openedBy: 'a request of a "session": "open" rule',
    opened: (subject, role) => `that client's requests of ${subject} matched by a "session": "follow" rule go to ${role}, pinned`,
    followed: (to) => `goes to ${to}`,
    otherwise: () => 'other clients, no session open',
  },
};
