/**
 * What a request's Accept header says about the client's intent, for rules that match on it.
 *
 * Registry clients ask "is this manifest there?" with the same request, `HEAD /v2/<name>/manifests/<ref>`, when
 * they pull and when they push; only Accept tells the two apart (checked in the clients' sources):
 * - containerd's pusher (`core/remotes/docker/pusher.go`; so also BuildKit, nerdctl and docker with the containerd
 *   image store) checks a tag before its manifest PUT with `Accept: <the manifest's own media type>, *\/*`;
 * - containerd's resolver (`core/remotes/docker/resolver.go`), on every pull by those clients, sends the docker v2
 *   manifest and list, the OCI manifest and index, then `*\/*`;
 * - go-containerregistry (crane) and regclient (regctl) send one list of every manifest type they read, without
 *   `*\/*`, both for their push's existence check and for a digest look-up: it cannot tell the two apart, so it is
 *   not a `list` here (a push that is skipped is silent; a look-up that misses is loud, and crane retries it as GET);
 * - docker's own pusher and skopeo send no manifest HEAD before the PUT, and pull manifests with GET.
 */
export type AcceptShape = 'list';

/**
 * `list` when `accept` (the header's value, or null) names at least two media types besides `*\/*` and also
 * `*\/*`: the client reads whatever the registry has (a pull). Otherwise undefined. Parameters (`;q=0.5`) are
 * ignored; repeated headers arrive joined with ", " and count alike.
 */
export function acceptShape(accept: string | null | undefined): AcceptShape | undefined {
  if (!accept) return undefined;
  let types = 0;
  let wildcard = false;
  for (const part of accept.split(',')) {
    const type = part.split(';', 1)[0]!.trim().toLowerCase();
    if (type === '*/*') wildcard = true;
    else if (type) types++;
  }
  return wildcard && types >= 2 ? 'list' : undefined;
}
