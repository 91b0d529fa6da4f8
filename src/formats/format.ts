/**
 * What the router knows about one package format, in one place: a format is one module in this
 * folder (docker.ts, npm.ts, maven.ts, pypi.ts, raw.ts, yum.ts, rubygems.ts, nuget.ts, generic.ts), registered in index.ts, which
 * feeds the config schema (the `preset` names), the compiled site (rules, roles, error format,
 * health), the body passes (URL mapping), `check --probe`, `route`'s wording and `import-nginx`.
 */
import type { RuleConfig } from '../config/schema.ts';
import type { ErrorFormat } from '../errors.ts';
import type { Role } from '../rules/rule.ts';

/** A session in the format's own words, as `route` prints it (a docker push session, a Maven deploy session). */
export interface SessionWords {
  /** `docker push session`. */
  readonly name: string;
  readonly openedBy: string;
  opened(subject: string, role: string): string;
  followed(to: string): string;
  otherwise(accept: string | undefined): string;
}

/** The kinds of answers whose URLs the body pass maps on exchanges whose rule says `mapUrls` (passes/body-urls.ts). */
export type BodyUrlKind = 'json' | 'html' | 'xml';

/** A mapped answer a format may change further (`amendBody`): its kind, its text (URLs already mapped), the router's public origin. */
export interface BodyToAmend {
  readonly kind: BodyUrlKind;
  readonly text: string;
  /** `https://nuget.example.com`: scheme and Host as the client addressed the router, no trailing slash. */
  readonly publicBase: string;
}

export interface Format {
  /** The site's `"preset"` value. */
  readonly name: string;
  /** How people write the format's name (`PyPI`): notes and the README section "The <title> preset". */
  readonly title: string;
  /** Ordered rules, first match wins, after the site's own; they end in a catch-all. */
  readonly rules: readonly RuleConfig[];
  /**
   * Roles besides `read` (the group) and `write` (the hosted repository), which every format requires
   * (`upstream`, or `upstreams.read` and `.write`: config/schema.ts): each optional one with the role it
   * falls back to when the site leaves it out (Maven's `snapshots` → `write`). Besides roles, docker's
   * rules name `ping` and `token`, which each site maps to read or write.
   */
  readonly optionalRoles: Readonly<Record<string, Role>>;
  /** How the router writes its own errors for this format's clients (errors.ts). */
  readonly errorFormat: ErrorFormat;
  /**
   * The format's clients show the status line's reason phrase to their user (mvn: `reason phrase: …`; twine:
   * the phrase on its own line), and Nexus puts its message there (`400 File already exists`). Servers that
   * cannot write the upstream's phrase (Bun.serve, Deno.serve) are avoided where they can be (src/node.ts).
   */
  readonly showsReasonPhrase?: true;
  /**
   * The default active health check (upstream/health.ts) and `check --probe`: `GET <server><path>`, healthy
   * when the status is one of `statuses`. Without `statuses` the probe wants 200–399 and the background check
   * takes any answer below 500 (the path is no API of the format: it only tells a live server from a dead one).
   */
  readonly health: { readonly path: string; readonly statuses?: readonly number[] };
  /** Which answers of `mapUrls` exchanges have their upstream URLs mapped; none: the format's rules map nothing. */
  readonly bodyUrls?: readonly BodyUrlKind[];
  /**
   * After the URL mapping of a `bodyUrls` answer: the text to send instead, or undefined to leave it (NuGet adds a
   * push resource to a service index that has none). Runs on every mapped answer of the format's sites: cheap
   * when it is not its kind.
   */
  readonly amendBody?: {
    /** What it does, as `route` says it of a mapped answer. */
    readonly words: string;
    /** The request paths whose answers it may change, for `route`'s wording (NuGet: the service index, `…/index.json`); none: any. */
    readonly paths?: RegExp;
    amend(body: BodyToAmend): string | undefined;
  };
  /** The sessions its rules open, in its own words (`route`); formats without session rules leave it out. */
  readonly sessions?: SessionWords;
  /** What each role is in the format's terms (`route` prints it beside the role). */
  readonly roleWords?: Readonly<Record<string, string>>;
  /** Said with the router's 405 when one of the format's own `deny` rules refuses a request (and by `route`). */
  readonly refusal?: string;
  /**
   * Every request of the format's clients starts with this path (docker: `/v2/`): an upstream URL ending in it
   * is refused on the format's sites (the router appends the whole path: `…/v2/v2/…`) and warned about on others
   * (config/site-checks.ts, config/warnings.ts).
   */
  readonly apiPrefix?: string;
  /** The router serves the client bootstrap script and CA download on the format's sites (docker's certs.d: local/local.ts). */
  readonly clientBootstrap?: true;
  /** The format's uploads may go through an edge worker (`directUploads`, `uploadsFromEdge`: the registry upload protocol, src/edge/). */
  readonly directUploads?: true;
  /** How `import-nginx` recognises a site of this format: the Nexus repository name in its upstream URLs. */
  readonly nginx?: {
    /** Tested against the repository name of `…/repository/<name>/` in the read and write upstreams. */
    readonly repository: RegExp;
    /**
     * true: the import sets this preset (it routes like the nginx method split for every request the format's
     * clients send); false: it keeps "generic" and suggests the preset in a note.
     */
    readonly adopt: boolean;
    /** Said once when the import sets the preset: what the router then does differently from nginx. */
    readonly adoptNote?: string;
    /**
     * The preset sends methods its clients never use somewhere else than the split did, and `adoptNote` says so
     * (RubyGems: any request but push and yank reads from the group): the import does not also report each of
     * those methods as a difference it could not carry over.
     */
    readonly otherMethodsNoted?: true;
    /**
     * Paths only the format's writes use (NuGet's push URL `/api/v2/package`, RubyGems' `/api/v1/gems`). An nginx
     * `location` for one (prefix, `^~`, `=`, or a regex that matches it) that proxies to another upstream than the
     * site's `/` names the write upstream: the import makes it the site's write role and notes the location as the
     * preset's own rule. `strip`: the format's rules take the path off on the way to the write upstream's root (the
     * location's `proxy_pass …/nuget-hosted/;` did the same); otherwise the path is passed on as sent.
     */
    readonly writePaths?: ReadonlyArray<{ readonly path: string; readonly strip: boolean }>;
  };
}
