// bench/.ab/src-new/node.ts
import { readFileSync as readFileSync2 } from "node:fs";
import { serve as serve2 } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";

// bench/.ab/src-new/access-log.ts
var jsonLinesLog = (entry) => console.log(JSON.stringify(entry));
var quietLog = () => {
};

// bench/.ab/src-new/app.ts
import { Hono as Hono2 } from "hono";

// bench/.ab/src-new/errors.ts
function errorResponse(format, status2, code, message) {
  if (format === "registry") {
    return new Response(JSON.stringify({ errors: [{ code, message, detail: null }] }), {
      status: status2,
      headers: {
        "content-type": "application/json; charset=utf-8",
        "docker-distribution-api-version": "registry/2.0"
      }
    });
  }
  return new Response(JSON.stringify({ error: code.toLowerCase(), message }), {
    status: status2,
    headers: { "content-type": "application/json; charset=utf-8" }
  });
}
var formatForPath = (path) => path === "/v2" || path.startsWith("/v2/") ? "registry" : "plain";

// bench/.ab/src-new/forward/client.ts
var UpstreamError = class extends Error {
  constructor(kind, message, options) {
    super(message, options);
    this.kind = kind;
  }
  kind;
  name = "UpstreamError";
};

// bench/.ab/src-new/stream/tap.ts
function tapStream(source2, hooks) {
  const reader = source2.getReader();
  let total = 0;
  let ended = false;
  const end = (error) => {
    if (ended) return;
    ended = true;
    hooks.onEnd?.(error);
  };
  return new ReadableStream(
    {
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            controller.close();
            end();
            return;
          }
          total += value.byteLength;
          hooks.onChunk?.(value, total);
          controller.enqueue(value);
        } catch (error) {
          controller.error(error);
          void reader.cancel(error).catch(() => {
          });
          if (!ended) hooks.onError?.(error);
          end(error);
        }
      },
      cancel(reason) {
        end(reason ?? new Error("cancelled"));
        return reader.cancel(reason);
      }
    },
    { highWaterMark: 0 }
  );
}

// bench/.ab/src-new/passes/body-tally.ts
var BodyTooLargeError = class extends Error {
  constructor(limit) {
    super(`request body exceeds the site's limit of ${limit} bytes`);
    this.limit = limit;
  }
  limit;
  name = "BodyTooLargeError";
};
function tallyBody(body2, onTotal, limit = 0, onEnd) {
  return tapStream(body2, {
    onChunk(_chunk, total) {
      onTotal(total);
      if (limit > 0 && total > limit) throw new BodyTooLargeError(limit);
    },
    onEnd
  });
}

// bench/.ab/src-new/passes/hop-by-hop.ts
var HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade"
];
function dropHopByHopHeaders(headers) {
  const listed = headers.get("connection");
  if (listed) for (const name of listed.split(",")) headers.delete(name.trim());
  for (const name of HOP_BY_HOP) headers.delete(name);
}

// bench/.ab/src-new/passes/public-url.ts
function toPublicUrl(exchange, value) {
  let target;
  try {
    target = new URL(value, exchange.upstream.target(exchange.url.pathname));
  } catch {
    return void 0;
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") return void 0;
  const sentHost = exchange.site.preserveHost ? exchange.url.host : exchange.upstream.host;
  for (const upstream of exchange.site.upstreamsByPrefix) {
    if (target.host !== upstream.host && target.host !== sentHost) continue;
    const { prefix } = upstream;
    if (prefix && target.pathname !== prefix && !target.pathname.startsWith(`${prefix}/`)) continue;
    const path = target.pathname.slice(prefix.length) || "/";
    return `${exchange.url.protocol}//${exchange.url.host}${path}${target.search}${target.hash}`;
  }
  return void 0;
}

// bench/.ab/src-new/passes/incoming.ts
var dropHopByHop = (_exchange, response) => {
  dropHopByHopHeaders(response.headers);
};
var bodilessResponses = (exchange, response) => {
  const { status: status2 } = response;
  if (exchange.request.method === "HEAD" || status2 === 204 || status2 === 304 || status2 >= 100 && status2 < 200) {
    void response.body?.cancel().catch(() => {
    });
    response.body = null;
  }
};
var rewriteLocation = (exchange, response) => {
  for (const name of ["location", "content-location"]) {
    const value = response.headers.get(name);
    const mapped = value === null ? void 0 : toPublicUrl(exchange, value);
    if (mapped !== void 0) response.headers.set(name, mapped);
  }
};
var rewriteAuthenticate = (exchange, response) => {
  const value = response.headers.get("www-authenticate");
  if (!value) return;
  const rewritten = value.replace(/(\w+)="([^"]*)"/g, (param, name, url) => {
    const mapped = toPublicUrl(exchange, url);
    return mapped === void 0 || !/^https?:\/\//i.test(url) ? param : `${name}="${mapped}"`;
  });
  if (rewritten !== value) response.headers.set("www-authenticate", rewritten);
};
var incomingPasses = [dropHopByHop, bodilessResponses, rewriteLocation, rewriteAuthenticate];
function applyIncoming(exchange, response, passes = incomingPasses) {
  for (const pass of passes) pass(exchange, response);
  return response;
}

// bench/.ab/src-new/admin.ts
import { Hono } from "hono";
function createAdminApp(sites, metrics) {
  const admin2 = new Hono();
  admin2.get(
    "/metrics",
    () => new Response(metrics.render(sites), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8", "cache-control": "no-store" } })
  );
  admin2.get("/healthz", () => json(200, { status: "live" }));
  admin2.get("/readyz", () => {
    const problems = readiness(sites);
    return json(problems.length ? 503 : 200, { status: problems.length ? "not ready" : "ready", problems });
  });
  admin2.all("*", () => json(404, { status: "not found", endpoints: ["/metrics", "/healthz", "/readyz"] }));
  return admin2;
}
function readiness(sites, now = Date.now()) {
  const problems = [];
  for (const site of sites) {
    if (!site.pools.read.ready(true, now)) problems.push(`site ${site.name}: no healthy read upstream`);
    if (!site.pools.write.ready(site.writeToBackup, now)) {
      problems.push(`site ${site.name}: no healthy write upstream${site.pools.write.backups.length && !site.writeToBackup ? " (writes are paused; backups take reads only)" : ""}`);
    }
  }
  return problems;
}
var json = (status2, body2) => new Response(`${JSON.stringify(body2)}
`, { status: status2, headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" } });

// bench/.ab/src-new/metrics.ts
var DURATION_BUCKETS = [5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
var Metrics = class {
  #series = /* @__PURE__ */ new Map();
  #durations = /* @__PURE__ */ new Map();
  /** Wraps an access log so that each entry is counted before it is written. */
  counting(log) {
    return (entry) => {
      this.record(entry);
      log(entry);
    };
  }
  record(entry) {
    const site = entry.site ?? "";
    const role = entry.role ?? "";
    const series = this.#seriesFor(site, role, entry.upstream ?? "");
    series.byStatus.set(entry.status, (series.byStatus.get(entry.status) ?? 0) + 1);
    series.bytesIn += entry.bytesIn;
    series.bytesOut += entry.bytesOut;
    const histogram = this.#histogramFor(site, role);
    const seconds3 = entry.durationMs / 1e3;
    histogram.count++;
    histogram.sum += seconds3;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) if (seconds3 <= DURATION_BUCKETS[i]) histogram.buckets[i]++;
  }
  #seriesFor(site, role, upstream) {
    let byRole = this.#series.get(site);
    if (!byRole) this.#series.set(site, byRole = /* @__PURE__ */ new Map());
    let byUpstream = byRole.get(role);
    if (!byUpstream) byRole.set(role, byUpstream = /* @__PURE__ */ new Map());
    let series = byUpstream.get(upstream);
    if (!series) {
      series = { labels: labelSet({ site, role, upstream }), byStatus: /* @__PURE__ */ new Map(), bytesIn: 0, bytesOut: 0 };
      byUpstream.set(upstream, series);
    }
    return series;
  }
  #histogramFor(site, role) {
    let byRole = this.#durations.get(site);
    if (!byRole) this.#durations.set(site, byRole = /* @__PURE__ */ new Map());
    let histogram = byRole.get(role);
    if (!histogram) {
      histogram = { labels: labelSet({ site, role }), buckets: DURATION_BUCKETS.map(() => 0), count: 0, sum: 0 };
      byRole.set(role, histogram);
    }
    return histogram;
  }
  /** Prometheus text exposition format 0.0.4. */
  render(sites) {
    const out = [];
    const family = (name, type, help) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const all = [];
    for (const byRole of this.#series.values()) for (const byUpstream of byRole.values()) all.push(...byUpstream.values());
    family("registry_router_requests_total", "counter", "Requests answered, by site, role, upstream (empty when the router answered itself) and status.");
    for (const series of all) {
      for (const [status2, count] of series.byStatus) out.push(`registry_router_requests_total{${series.labels},status="${status2}"} ${count}`);
    }
    family("registry_router_received_bytes_total", "counter", "Request body bytes received from clients.");
    for (const series of all) out.push(`registry_router_received_bytes_total{${series.labels}} ${series.bytesIn}`);
    family("registry_router_sent_bytes_total", "counter", "Response body bytes sent to clients.");
    for (const series of all) out.push(`registry_router_sent_bytes_total{${series.labels}} ${series.bytesOut}`);
    family("registry_router_request_duration_seconds", "histogram", "Time from request to the end of the response body, by site and role.");
    for (const byRole of this.#durations.values()) {
      for (const h of byRole.values()) {
        DURATION_BUCKETS.forEach((le, i) => out.push(`registry_router_request_duration_seconds_bucket{${h.labels},le="${le}"} ${h.buckets[i]}`));
        out.push(`registry_router_request_duration_seconds_bucket{${h.labels},le="+Inf"} ${h.count}`);
        out.push(`registry_router_request_duration_seconds_sum{${h.labels}} ${h.sum}`);
        out.push(`registry_router_request_duration_seconds_count{${h.labels}} ${h.count}`);
      }
    }
    family("registry_router_upstream_up", "gauge", "Whether a server is healthy (1) or down (0), per site, role and tier (primary or backup).");
    for (const site of sites) {
      for (const pool of [site.pools.read, site.pools.write]) {
        for (const [tier, servers] of [["primary", pool.primaries], ["backup", pool.backups]]) {
          for (const server of servers) out.push(`registry_router_upstream_up{${labelSet({ site: site.name, role: pool.role, upstream: server.href, tier })}} ${server.up ? 1 : 0}`);
        }
      }
    }
    family("registry_router_upstream_transfers_in_flight", "gauge", "Requests sent to a server whose response has not ended yet.");
    for (const site of sites) for (const server of site.servers) out.push(`registry_router_upstream_transfers_in_flight{${labelSet({ site: site.name, upstream: server.href })}} ${server.active}`);
    family("registry_router_upstream_failures_total", "counter", "Requests that failed on a server (connect errors, resets, fail statuses).");
    for (const site of sites) for (const server of site.servers) out.push(`registry_router_upstream_failures_total{${labelSet({ site: site.name, upstream: server.href })}} ${server.failures}`);
    family("registry_router_retries_total", "counter", "GET/HEAD requests sent again to another server after a failure.");
    for (const site of sites) for (const pool of [site.pools.read, site.pools.write]) out.push(`registry_router_retries_total{${labelSet({ site: site.name, role: pool.role })}} ${pool.retries}`);
    return `${out.join("\n")}
`;
  }
};
function labelSet(labels) {
  return Object.entries(labels).map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(",");
}
var escapeLabel = (value) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

// bench/.ab/src-new/passes/outgoing.ts
var targetUrl = (exchange, outgoing) => {
  outgoing.url = exchange.upstream.target(exchange.url.pathname + exchange.url.search);
};
var dropHopByHop2 = (_exchange, outgoing) => {
  dropHopByHopHeaders(outgoing.headers);
  outgoing.headers.delete("expect");
};
var hostHeader = (exchange, outgoing) => {
  outgoing.headers.set("host", exchange.site.preserveHost ? exchange.url.host : exchange.upstream.host);
};
var forwardedFor = (exchange, outgoing) => {
  const prior = outgoing.headers.get("x-forwarded-for");
  outgoing.headers.set("x-forwarded-for", prior ? `${prior}, ${exchange.clientAddress}` : exchange.clientAddress);
  outgoing.headers.set("x-real-ip", exchange.clientAddress);
};
var forwardedProto = (exchange, outgoing) => {
  outgoing.headers.set("x-forwarded-proto", exchange.url.protocol.slice(0, -1));
};
var forwardedHost = (exchange, outgoing) => {
  if (exchange.site.forwardedHost) outgoing.headers.set("x-forwarded-host", exchange.url.host);
  else outgoing.headers.delete("x-forwarded-host");
};
var requestBodyTally = (exchange, outgoing) => {
  if (!outgoing.body) return;
  outgoing.body = tallyBody(
    outgoing.body,
    (total) => {
      exchange.tally.bytesIn = total;
      if (exchange.site.maxBodySize > 0 && total > exchange.site.maxBodySize) exchange.tally.bodyTooLarge = true;
    },
    exchange.site.maxBodySize
  );
};
var outgoingPasses = [
  targetUrl,
  dropHopByHop2,
  hostHeader,
  forwardedFor,
  forwardedProto,
  forwardedHost,
  requestBodyTally
];
function buildOutgoing(exchange, passes = outgoingPasses) {
  const { request: request2 } = exchange;
  const outgoing = {
    url: "",
    method: request2.method,
    headers: new Headers(request2.headers),
    body: request2.method === "GET" || request2.method === "HEAD" ? null : request2.body,
    signal: request2.signal
  };
  for (const pass of passes) pass(exchange, outgoing);
  return outgoing;
}

// bench/.ab/src-new/upstream/failover.ts
var SAFE_METHODS = /* @__PURE__ */ new Set(["GET", "HEAD"]);
async function sendWithFailover(exchange, client2) {
  const { site, role, request: request2 } = exchange;
  const pool = site.pools[role];
  const safe = SAFE_METHODS.has(request2.method);
  const isWrite = role === "write" && !safe;
  const backups = !isWrite || site.writeToBackup;
  const retriable = safe && !hasBody(request2);
  const tried = /* @__PURE__ */ new Set();
  const next = () => pool.pick(backups, tried) ?? pool.lastResort(backups, tried);
  let server = pool.pick(backups, tried);
  if (!server && isWrite && !site.writeToBackup && pool.backups.length > 0) {
    return { kind: "refused", response: pausedResponse(site), reason: "no healthy primary for writes" };
  }
  server ??= pool.lastResort(backups, tried);
  let attempt = exchange;
  let lastError = new UpstreamError("unreachable", `site ${site.name} has no ${role} server`);
  while (server) {
    tried.add(server);
    attempt = { ...exchange, upstream: server.upstream };
    const current = server;
    current.active++;
    let response;
    try {
      response = await client2.send(buildOutgoing(attempt));
    } catch (error) {
      current.active--;
      lastError = error;
      const blamesServer = error instanceof UpstreamError && !request2.signal.aborted && !exchange.tally.bodyTooLarge && exchange.tally.bytesIn === 0;
      if (blamesServer) current.failed("passive", `${request2.method} ${exchange.url.pathname}: ${error.message}`);
      if (!retriable || !blamesServer) break;
      server = next();
      if (server) pool.retries++;
      continue;
    }
    if (site.health.failStatuses.has(response.status)) {
      current.failed("passive", `${request2.method} ${exchange.url.pathname} answered ${response.status}`);
      const alternative = retriable ? next() : void 0;
      if (alternative) {
        void response.body?.cancel().catch(() => {
        });
        current.active--;
        pool.retries++;
        server = alternative;
        continue;
      }
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      current.active--;
    };
    return { kind: "response", exchange: attempt, response, release };
  }
  return { kind: "failed", exchange: attempt, error: lastError };
}
function hasBody(request2) {
  const length = request2.headers.get("content-length");
  return length !== null && length !== "0" || request2.headers.has("transfer-encoding");
}
function pausedResponse(site) {
  const what = site.errorFormat === "registry" ? "pushes" : "writes";
  const response = errorResponse(
    site.errorFormat,
    503,
    "UNAVAILABLE",
    `${what} to ${site.name} are paused: no primary write upstream is healthy, and backups are read-only copies; reads still work, retry later`
  );
  const seconds3 = Math.ceil(Math.max(site.health.backoffMs, site.health.checks ? site.health.intervalMs : 0) / 1e3);
  response.headers.set("retry-after", String(Math.max(1, seconds3)));
  return response;
}

// bench/.ab/src-new/upstream/health.ts
function healthSettings(config2, preset, failover) {
  const statuses = config2.statuses ?? (preset === "docker" ? [200, 401] : void 0);
  return {
    checks: config2.checks ?? failover,
    intervalMs: config2.interval * 1e3,
    timeoutMs: config2.timeout * 1e3,
    path: config2.path ?? (preset === "docker" ? "/v2/" : "/"),
    healthy: statuses ? (status2) => statuses.includes(status2) : (status2) => status2 >= 200 && status2 < 400,
    failStatuses: new Set(config2.failStatuses),
    backoffMs: config2.backoff * 1e3
  };
}
var stderrHealthLog = (event) => console.error(JSON.stringify(event));
function startHealthChecks(targets, client2) {
  let stopped = false;
  const timers = /* @__PURE__ */ new Set();
  const active = targets.filter((target) => target.health.checks && target.servers.length > 0);
  const round = (target) => Promise.all(target.servers.map((server) => checkServer(server, target.health, client2))).then(() => {
  });
  const schedule = (target, delay) => {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      void round(target).finally(() => schedule(target, target.health.intervalMs));
    }, delay);
    timer.unref?.();
    timers.add(timer);
  };
  for (const target of active) schedule(target, 0);
  return {
    stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
    runOnce: () => Promise.all(active.map(round)).then(() => {
    })
  };
}
async function checkServer(server, health, client2) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("health check timed out")), health.timeoutMs);
  try {
    const response = await client2.send({
      url: server.upstream.target(health.path),
      method: "GET",
      headers: new Headers({ "user-agent": "registry-router-health-check", accept: "application/json, */*" }),
      body: null,
      signal: controller.signal
    });
    await drain(response.body, 64 * 1024);
    if (health.healthy(response.status)) {
      server.passed(`GET ${health.path} answered ${response.status}`);
      return true;
    }
    server.failed("active", `GET ${health.path} answered ${response.status}`);
    return false;
  } catch (error) {
    const reason = controller.signal.aborted ? `GET ${health.path}: no answer within ${health.timeoutMs / 1e3} s` : `GET ${health.path}: ${describe(error)}`;
    server.failed("active", reason);
    return false;
  } finally {
    clearTimeout(timer);
  }
}
async function drain(body2, cap) {
  if (!body2) return;
  const reader = body2.getReader();
  let total = 0;
  try {
    for (; ; ) {
      const { done, value } = await reader.read();
      if (done) return;
      total += value.byteLength;
      if (total > cap) {
        await reader.cancel().catch(() => {
        });
        return;
      }
    }
  } catch {
  }
}
function describe(error) {
  const message = String(error?.message ?? error);
  const cause = error?.cause;
  return cause?.code ? `${message} (${cause.code})` : message;
}

// bench/.ab/src-new/config/serving.ts
import { z } from "zod";
var certPairSchema = z.strictObject({
  cert: z.string().min(1, "must be the path of a PEM certificate (chain) file"),
  key: z.string().min(1, "must be the path of a PEM private key file")
});
var listenEntryInput = z.strictObject({
  host: z.string().min(1).default("0.0.0.0"),
  /** Default 8080, or 8443 for a TLS entry. */
  port: z.number().int().min(0).max(65535).optional(),
  /** TLS with one certificate: PEM file paths. */
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  /** TLS with one certificate per site, chosen by the name the client asks for (SNI); the first is the default. */
  certs: z.array(certPairSchema).min(1).optional()
}).superRefine((entry, ctx) => {
  if (!entry.cert !== !entry.key) {
    ctx.addIssue({ code: "custom", path: [entry.cert ? "key" : "cert"], message: 'a TLS listener needs both "cert" and "key"' });
  }
  if (entry.cert && entry.certs) {
    ctx.addIssue({ code: "custom", path: ["certs"], message: 'give either "cert"/"key" or "certs", not both' });
  }
}).transform(({ cert, key: key2, certs, port, ...rest }) => {
  const pairs = certs ?? (cert && key2 ? [{ cert, key: key2 }] : []);
  return { ...rest, port: port ?? (pairs.length ? 8443 : 8080), certs: pairs };
});
var listenSchema = z.union([listenEntryInput, z.array(listenEntryInput).min(1, "must list at least one listener")]).prefault({}).transform((value) => Array.isArray(value) ? value : [value]).superRefine((entries, ctx) => {
  const seen = /* @__PURE__ */ new Set();
  entries.forEach((entry, i) => {
    const address = `${entry.host}:${entry.port}`;
    if (entry.port !== 0 && seen.has(address)) ctx.addIssue({ code: "custom", path: [i, "port"], message: `${address} is listed twice` });
    seen.add(address);
  });
});
var isTls = (entry) => entry.certs.length > 0;
var urlPath = z.string().regex(/^\/[^?#\\\s]*$/, 'must be a URL path starting with "/" (no query, no backslash, no spaces)').refine((path) => !path.split("/").some((segment) => segment === "." || segment === ".."), 'must not contain "." or ".." segments');
var staticMountSchema = z.strictObject({
  prefix: urlPath.transform((path) => path.replace(/\/+$/, "")),
  /** The folder (relative to the config file). Nothing outside it is ever served, symlinks included. */
  dir: z.string().min(1),
  /** An HTML index for folders; off by default. */
  listing: z.boolean().default(false)
});
var bootstrapSchema = z.union([
  z.literal(false),
  z.strictObject({
    path: urlPath.default("/download/scripts/docker-init.sh"),
    caPath: urlPath.default("/download/ca.crt")
  })
]);
var httpsRedirectSchema = z.union([z.boolean(), z.number().int().min(1).max(65535)]).default(false);

// bench/.ab/src-new/local/bootstrap.ts
var HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
var IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
var PEM = /^(?:-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*)+$/;
var isScriptableHost = (host) => HOST_NAME.test(host) || IPV4.test(host);
var shellQuote = (value) => `'${value.replace(/'/g, `'\\''`)}'`;
var registryName = (host, port) => port === 443 ? host : `${host}:${port}`;
function renderBootstrapScript(target) {
  if (!isScriptableHost(target.host)) throw new Error(`cannot write a bootstrap script for host "${target.host}"`);
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) throw new Error(`bad port ${target.port}`);
  if (!PEM.test(target.caPem)) throw new Error("the CA file does not hold PEM certificates");
  const registry = registryName(target.host, target.port);
  const caPem = target.caPem.replace(/\r\n/g, "\n").trim();
  return `#!/bin/sh
# Client bootstrap for the registry ${registry} (registry-router site "${target.site}").
#
# Installs the registry's CA certificate for docker, containerd and podman/skopeo/buildah,
# checks that https://${registry}/v2/ answers with that CA, and prints the docker login line.
# Running it again changes nothing.
#
#   curl -fsSL ${target.scriptUrl} -o docker-init.sh && sudo sh docker-init.sh
#
# The CA is also served at ${target.caUrl}.
set -eu

REGISTRY_HOST=${shellQuote(target.host)}
REGISTRY_PORT=${shellQuote(String(target.port))}
REGISTRY=${shellQuote(registry)}
ROOT=\${ROOT:-}
REGISTRY_ADDR=\${REGISTRY_ADDR:-}
HOSTS_IP=
CHECK=yes
CHANGED=0
MARKER="# registry-router: $REGISTRY_HOST"

usage() {
  cat <<EOF
Usage: sh docker-init.sh [--hosts IP] [--no-check]

Installs the CA of $REGISTRY for docker, containerd and podman/skopeo,
checks https://$REGISTRY/v2/ with it, and prints the docker login line.

  --hosts IP    also map $REGISTRY_HOST to IP in /etc/hosts (idempotent;
                the previous file is kept as /etc/hosts.registry-router.<time>)
  --no-check    do not contact the registry
  -h, --help    this text

Environment:
  ROOT=DIR          install below DIR instead of / (tests, image builds)
  REGISTRY_ADDR=IP  check against IP instead of resolving $REGISTRY_HOST
                    (needs curl: uses --resolve)
EOF
}

say() { printf '%s\\n' "$*"; }
die() {
  printf 'docker-init: %s\\n' "$*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case $1 in
    --hosts)
      [ $# -ge 2 ] || die "--hosts needs an IP address"
      HOSTS_IP=$2
      shift 2
      ;;
    --hosts=*)
      HOSTS_IP=\${1#--hosts=}
      shift
      ;;
    --no-check)
      CHECK=no
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

case $HOSTS_IP in
  *[!0-9A-Fa-f.:]*) die "--hosts wants an IP address, not: $HOSTS_IP" ;;
esac
if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo sh docker-init.sh), or set ROOT to install below a folder"
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

cat >"$TMP/ca.crt" <<'CA_PEM'
${caPem}
CA_PEM

# install_file SRC DEST: copies when DEST is missing or different (keeping DEST.bak), else nothing.
install_file() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    say "unchanged  $2"
    return 0
  fi
  mkdir -p "$(dirname "$2")"
  if [ -f "$2" ]; then
    cp -p "$2" "$2.bak"
    say "backup     $2.bak"
  fi
  cp "$1" "$2.tmp.$$"
  chmod 644 "$2.tmp.$$"
  mv -f "$2.tmp.$$" "$2"
  say "installed  $2"
  CHANGED=$((CHANGED + 1))
}

# docker: /etc/docker/certs.d/<host[:port]>/ca.crt, read on each connection, no restart needed.
install_file "$TMP/ca.crt" "$ROOT/etc/docker/certs.d/$REGISTRY/ca.crt"

# podman, skopeo, buildah, CRI-O: same layout under /etc/containers.
install_file "$TMP/ca.crt" "$ROOT/etc/containers/certs.d/$REGISTRY/ca.crt"

# containerd (ctr, nerdctl, kubelet via CRI): ca.crt plus a hosts.toml naming it.
CONTAINERD_DIR="/etc/containerd/certs.d/$REGISTRY"
install_file "$TMP/ca.crt" "$ROOT$CONTAINERD_DIR/ca.crt"
cat >"$TMP/hosts.toml" <<EOF
# Written by docker-init.sh from registry-router; it is not overwritten once it exists.
server = "https://$REGISTRY"

[host."https://$REGISTRY"]
  capabilities = ["pull", "resolve", "push"]
  ca = "$CONTAINERD_DIR/ca.crt"
EOF
if [ -f "$ROOT$CONTAINERD_DIR/hosts.toml" ] && ! cmp -s "$TMP/hosts.toml" "$ROOT$CONTAINERD_DIR/hosts.toml"; then
  say "kept       $ROOT$CONTAINERD_DIR/hosts.toml (yours; make it name ca = \\"$CONTAINERD_DIR/ca.crt\\")"
else
  install_file "$TMP/hosts.toml" "$ROOT$CONTAINERD_DIR/hosts.toml"
fi

# /etc/hosts, only when asked: one line of ours per registry host, replaced when the IP changes.
if [ -n "$HOSTS_IP" ]; then
  HOSTS_FILE="$ROOT/etc/hosts"
  HOSTS_LINE="$HOSTS_IP $REGISTRY_HOST $MARKER"
  if [ -f "$HOSTS_FILE" ] && grep -qxF "$HOSTS_LINE" "$HOSTS_FILE"; then
    say "unchanged  $HOSTS_FILE"
  else
    mkdir -p "$(dirname "$HOSTS_FILE")"
    if [ -f "$HOSTS_FILE" ]; then
      BACKUP="$HOSTS_FILE.registry-router.$(date +%Y%m%d%H%M%S)"
      [ ! -e "$BACKUP" ] || BACKUP="$BACKUP.$$"
      cp -p "$HOSTS_FILE" "$BACKUP"
      say "backup     $BACKUP"
      # Drop our earlier line for this host (it ends with the marker), keep everything else.
      awk -v m="$MARKER" '{ n = length($0); k = length(m); if (n >= k && substr($0, n - k + 1) == m) next; print }' "$HOSTS_FILE" >"$TMP/hosts"
    else
      : >"$TMP/hosts"
    fi
    printf '%s\\n' "$HOSTS_LINE" >>"$TMP/hosts"
    # Rewrite in place: /etc/hosts is often a bind mount that mv cannot replace.
    cat "$TMP/hosts" >"$HOSTS_FILE"
    say "updated    $HOSTS_FILE ($REGISTRY_HOST -> $HOSTS_IP)"
    CHANGED=$((CHANGED + 1))
  fi
  HOST_LINES=$(awk -v h="$REGISTRY_HOST" '{ sub(/#.*/, ""); for (i = 2; i <= NF; i++) if ($i == h) { c++; break } } END { print c + 0 }' "$HOSTS_FILE")
  if [ "$HOST_LINES" -gt 1 ]; then
    say "note: $HOSTS_FILE names $REGISTRY_HOST on $HOST_LINES lines; the first one wins"
  fi
fi

# The registry must answer /v2/ over TLS with the CA just installed (200, or 401 before login).
if [ "$CHECK" = yes ]; then
  CA_FILE="$ROOT/etc/docker/certs.d/$REGISTRY/ca.crt"
  URL="https://$REGISTRY/v2/"
  if command -v curl >/dev/null 2>&1; then
    if [ -n "$REGISTRY_ADDR" ]; then
      STATUS=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 --cacert "$CA_FILE" \\
        --resolve "$REGISTRY_HOST:$REGISTRY_PORT:$REGISTRY_ADDR" "$URL") || die "cannot reach $URL over TLS (see the curl error above)"
    else
      STATUS=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 --cacert "$CA_FILE" "$URL") ||
        die "cannot reach $URL over TLS (see the curl error above; --hosts IP adds an /etc/hosts entry)"
    fi
  elif command -v wget >/dev/null 2>&1; then
    [ -z "$REGISTRY_ADDR" ] || die "REGISTRY_ADDR needs curl"
    # GNU wget exits 6 on 401 (authentication required): the TLS part worked.
    if wget -q -T 20 --ca-certificate="$CA_FILE" -O /dev/null "$URL"; then
      STATUS=200
    else
      WGET_EXIT=$?
      [ "$WGET_EXIT" -eq 6 ] || die "cannot reach $URL over TLS (wget exit $WGET_EXIT)"
      STATUS=401
    fi
  else
    die "neither curl nor wget is installed: install one, or run with --no-check"
  fi
  case $STATUS in
    200 | 401) say "ok         $URL answers $STATUS over TLS with the installed CA" ;;
    *) die "$URL answered HTTP $STATUS" ;;
  esac
fi

if [ "$CHANGED" -eq 0 ]; then
  say "nothing to change: $REGISTRY was already set up"
fi
say ""
say "containerd reads these files when its CRI registry config_path is /etc/containerd/certs.d."
say "Log in with:"
say "  docker login $REGISTRY"
`;
}

// bench/.ab/src-new/local/files.ts
async function readSmallFile(files, path, limit = 1024 * 1024) {
  const info = await files.stat(path);
  if (!info || info.kind !== "file") return void 0;
  if (info.size > limit) throw new Error(`${path} is larger than ${limit} bytes`);
  return new Uint8Array(await new Response(await files.open(path)).arrayBuffer());
}

// bench/.ab/src-new/local/mime.ts
var TYPES = {
  txt: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json",
  xml: "application/xml",
  yaml: "application/yaml",
  yml: "application/yaml",
  toml: "application/toml",
  csv: "text/csv; charset=utf-8",
  sh: "text/x-shellscript; charset=utf-8",
  ps1: "text/plain; charset=utf-8",
  crt: "application/x-x509-ca-cert",
  cer: "application/x-x509-ca-cert",
  der: "application/x-x509-ca-cert",
  pem: "application/x-pem-file",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  ico: "image/vnd.microsoft.icon",
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  tgz: "application/gzip",
  tar: "application/x-tar",
  xz: "application/x-xz",
  zst: "application/zstd",
  deb: "application/vnd.debian.binary-package",
  rpm: "application/x-rpm",
  jar: "application/java-archive",
  wasm: "application/wasm"
};
function contentTypeFor(name) {
  const dot = name.lastIndexOf(".");
  return dot > 0 && TYPES[name.slice(dot + 1).toLowerCase()] || "application/octet-stream";
}

// bench/.ab/src-new/local/static.ts
function staticHandler(mount, files) {
  const prefix = mount.prefix;
  return async (request2, url) => {
    const pathname = url.pathname;
    if (prefix && pathname !== prefix && !pathname.startsWith(`${prefix}/`)) return void 0;
    if (request2.method !== "GET" && request2.method !== "HEAD") {
      return text(405, "method not allowed: this path serves files (GET, HEAD)\n", { allow: "GET, HEAD" });
    }
    const segments = safeSegments(pathname.slice(prefix.length));
    if (segments === "bad") return text(400, "bad path\n");
    if (segments === "hidden") return notFound();
    const root = await files.realpath(mount.dir);
    if (!root) return notFound();
    const target = await files.realpath(segments.length ? `${root}/${segments.join("/")}` : root);
    if (!target || !inside(root, target)) return notFound();
    const info = await files.stat(target);
    if (!info) return notFound();
    if (info.kind === "directory") {
      if (!mount.listing) return notFound();
      if (!pathname.endsWith("/")) return redirect(`/${pathname.replace(/^\/+/, "")}/${url.search}`);
      return listing(request2, files, root, target, pathname);
    }
    if (info.kind !== "file") return notFound();
    const name = segments[segments.length - 1] ?? "";
    return serveFile(request2, files, target, info, contentTypeFor(name));
  };
}
function safeSegments(rest) {
  const segments = [];
  for (const raw of rest.split("/")) {
    if (raw === "") continue;
    if (raw.includes("\\")) return "bad";
    let decoded;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return "bad";
    }
    if (decoded === "." || decoded === ".." || /[/\\\u0000-\u001f\u007f]/.test(decoded)) return "bad";
    if (decoded.startsWith(".")) return "hidden";
    segments.push(decoded);
  }
  return segments;
}
var inside = (root, path) => path === root || path.startsWith(root.endsWith("/") ? root : `${root}/`);
var etagOf = (info) => `"${Math.floor(info.mtimeMs / 1e3).toString(16)}-${info.size.toString(16)}"`;
async function serveFile(request2, files, path, info, contentType) {
  const etag = etagOf(info);
  const lastModified = new Date(Math.floor(info.mtimeMs / 1e3) * 1e3).toUTCString();
  const validators = { etag, "last-modified": lastModified };
  if (notModified(request2.headers, etag, info.mtimeMs)) return new Response(null, { status: 304, headers: validators });
  const headers = {
    ...validators,
    "content-type": contentType,
    "accept-ranges": "bytes",
    "x-content-type-options": "nosniff"
  };
  const range = request2.method === "GET" ? rangeFor(request2.headers, info.size, etag, lastModified) : void 0;
  if (range === "unsatisfiable") {
    return new Response(null, { status: 416, headers: { ...validators, "content-range": `bytes */${info.size}` } });
  }
  const length = range ? range.end - range.start + 1 : info.size;
  headers["content-length"] = String(length);
  if (range) headers["content-range"] = `bytes ${range.start}-${range.end}/${info.size}`;
  const body2 = request2.method === "HEAD" || length === 0 ? null : await files.open(path, range ?? { start: 0, end: info.size - 1 });
  return new Response(body2, { status: range ? 206 : 200, headers });
}
function notModified(headers, etag, mtimeMs) {
  const noneMatch = headers.get("if-none-match");
  if (noneMatch !== null) {
    return noneMatch.trim() === "*" || noneMatch.split(",").some((tag) => weak(tag.trim()) === weak(etag));
  }
  const since = headers.get("if-modified-since");
  if (since === null) return false;
  const date = Date.parse(since);
  return !Number.isNaN(date) && Math.floor(mtimeMs / 1e3) * 1e3 <= date;
}
var weak = (tag) => tag.replace(/^W\//, "");
function rangeFor(headers, size2, etag, lastModified) {
  const header = headers.get("range");
  if (header === null) return void 0;
  const ifRange = headers.get("if-range");
  if (ifRange !== null && ifRange.trim() !== etag && ifRange.trim() !== lastModified) return void 0;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match || match[1] === "" && match[2] === "") return void 0;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size2 === 0) return "unsatisfiable";
    return { start: Math.max(0, size2 - suffix), end: size2 - 1 };
  }
  const start2 = Number(match[1]);
  if (match[2] !== "" && Number(match[2]) < start2) return void 0;
  if (start2 >= size2) return "unsatisfiable";
  return { start: start2, end: match[2] === "" ? size2 - 1 : Math.min(Number(match[2]), size2 - 1) };
}
async function listing(request2, files, root, path, pathname) {
  const all = await files.readdir(path);
  const reachable = await Promise.all(
    all.map(async (entry) => {
      if (entry.name.startsWith(".") || entry.kind === "other") return false;
      const real = await files.realpath(`${path}/${entry.name}`);
      return real !== void 0 && inside(root, real);
    })
  );
  const entries = all.filter((_entry, i) => reachable[i]).sort((a, b) => Number(b.kind === "directory") - Number(a.kind === "directory") || a.name.localeCompare(b.name));
  const title = escapeHtml(safeDecode(pathname));
  const items = entries.map((entry) => {
    const name = entry.name + (entry.kind === "directory" ? "/" : "");
    return `<li><a href="${encodeURIComponent(entry.name)}${entry.kind === "directory" ? "/" : ""}">${escapeHtml(name)}</a></li>`;
  });
  const html = `<!doctype html>
<meta charset="utf-8">
<title>Index of ${title}</title>
<h1>Index of ${title}</h1>
<ul>
<li><a href="../">../</a></li>
${items.join("\n")}
</ul>
`;
  const body2 = new TextEncoder().encode(html);
  return new Response(request2.method === "HEAD" ? null : body2, {
    status: 200,
    headers: { "content-type": "text/html; charset=utf-8", "content-length": String(body2.byteLength), "cache-control": "no-cache" }
  });
}
var safeDecode = (value) => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};
var escapeHtml = (value) => value.replace(/[&<>"']/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[char]);
function text(status2, body2, extra = {}) {
  return new Response(body2, { status: status2, headers: { "content-type": "text/plain; charset=utf-8", ...extra } });
}
var notFound = () => text(404, "not found\n");
var redirect = (location) => new Response(null, { status: 301, headers: { location } });

// bench/.ab/src-new/local/local.ts
var DEFAULT_BOOTSTRAP = { path: "/download/scripts/docker-init.sh", caPath: "/download/ca.crt" };
function httpsPortOf(site, config2) {
  if (typeof site.httpsRedirect === "number") return site.httpsRedirect;
  return config2.listen.find(isTls)?.port ?? 443;
}
function compileLocal(site, config2, files) {
  if (site.static.length && !files) throw new Error(`site ${site.name}: "static" needs file access, which this runtime did not provide`);
  const bootstrap = site.preset === "docker" && site.bootstrap !== false && config2.caCert !== void 0 && files ? { ...DEFAULT_BOOTSTRAP, ...site.bootstrap, caFile: config2.caCert, files } : void 0;
  const mounts = [...site.static].sort((a, b) => b.prefix.length - a.prefix.length).map((mount) => staticHandler(mount, files));
  const redirectPort = site.httpsRedirect === false ? void 0 : httpsPortOf(site, config2);
  const httpsPort = httpsPortOf(site, config2);
  if (!bootstrap && !mounts.length && redirectPort === void 0) return void 0;
  return async (request2, url) => {
    if (bootstrap && (url.pathname === bootstrap.path || url.pathname === bootstrap.caPath)) {
      const isScript = url.pathname === bootstrap.path;
      const role = isScript ? "bootstrap" : "ca";
      if (request2.method !== "GET" && request2.method !== "HEAD") return { role, response: plain(405, "method not allowed\n", { allow: "GET, HEAD" }) };
      let ca;
      try {
        ca = await readSmallFile(bootstrap.files, bootstrap.caFile);
      } catch {
        ca = void 0;
      }
      if (!ca) return { role, response: plain(503, `the CA certificate (caCert) cannot be read on this server
`) };
      if (!isScript) return { role, response: body(request2, ca, "application/x-x509-ca-cert") };
      if (!isScriptableHost(url.hostname)) {
        return { role, response: plain(400, `address the registry by host name or IPv4 address to get its script, not "${url.hostname}"
`) };
      }
      const port = url.protocol === "https:" ? Number(url.port || 443) : httpsPort;
      const origin = `${url.protocol}//${url.host}`;
      const script = renderBootstrapScript({
        site: site.name,
        host: url.hostname,
        port,
        caPem: new TextDecoder().decode(ca),
        scriptUrl: origin + bootstrap.path,
        caUrl: origin + bootstrap.caPath
      });
      const headers = { "content-disposition": `inline; filename="${bootstrap.path.split("/").pop() || "docker-init.sh"}"`, "x-registry": registryName(url.hostname, port) };
      return { role, response: body(request2, new TextEncoder().encode(script), "text/x-shellscript; charset=utf-8", headers) };
    }
    if (redirectPort !== void 0 && url.protocol === "http:") {
      const location = `https://${url.hostname}${redirectPort === 443 ? "" : `:${redirectPort}`}${url.pathname}${url.search}`;
      const status2 = request2.method === "GET" || request2.method === "HEAD" ? 301 : 308;
      return { role: "redirect", response: new Response(null, { status: status2, headers: { location } }) };
    }
    for (const mount of mounts) {
      const response = await mount(request2, url);
      if (response) return { role: "static", response };
    }
    return void 0;
  };
}
function body(request2, bytes, contentType, extra = {}) {
  return new Response(request2.method === "HEAD" ? null : bytes, {
    status: 200,
    headers: { "content-type": contentType, "content-length": String(bytes.byteLength), "cache-control": "no-cache", ...extra }
  });
}
function plain(status2, text2, extra = {}) {
  return new Response(text2, { status: status2, headers: { "content-type": "text/plain; charset=utf-8", ...extra } });
}

// bench/.ab/src-new/rules/presets.ts
var presets = {
  generic: [
    { methods: ["GET", "HEAD"], to: "read" },
    { to: "write" }
  ],
  docker: [
    // A push in progress: POST/PATCH/PUT, and GET of its progress, must all reach the same registry.
    { path: "/v2/**/blobs/uploads/**", to: "write" },
    // "Do you already have this layer?" asked during a push: the group may hold the blob while
    // hosted does not, and the push would then fail on the manifest ("blob unknown").
    { methods: ["HEAD"], path: "/v2/**/blobs/*", to: "write" },
    { methods: ["GET", "HEAD"], path: "/v2/", to: "ping" },
    { methods: ["GET", "HEAD"], path: "/v2/token", to: "token" },
    { methods: ["GET", "HEAD"], path: "/v2/**/manifests/*", to: "read" },
    { methods: ["GET"], path: "/v2/**/blobs/*", to: "read" },
    { methods: ["GET"], path: "/v2/**/tags/list", to: "read" },
    { methods: ["GET"], path: "/v2/_catalog", to: "read" },
    { methods: ["GET", "HEAD"], to: "read" },
    { to: "write" }
  ]
};

// bench/.ab/src-new/rules/pattern.ts
function compilePathPattern(pattern) {
  let source2 = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char === "*" && pattern[i + 1] === "*") {
      source2 += ".*";
      i++;
    } else if (char === "*") {
      source2 += "[^/]+";
    } else {
      source2 += char.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
    }
  }
  return new RegExp(`^${source2}$`);
}

// bench/.ab/src-new/rules/rule.ts
function compileRule(source2, aliases) {
  const target = source2.to === "read" || source2.to === "write" || source2.to === "deny" ? source2.to : aliases[source2.to];
  if (!target) throw new Error(`rule target "${source2.to}" is not a role (read, write, deny, ${Object.keys(aliases).join(", ")})`);
  const methods = source2.methods && new Set(source2.methods);
  const path = source2.path === void 0 ? void 0 : compilePathPattern(source2.path);
  const query = source2.query && Object.entries(source2.query);
  return {
    source: source2,
    target,
    matches(method, requestPath, params) {
      if (methods && !methods.has(method)) return false;
      if (path && !path.test(requestPath)) return false;
      if (query) {
        for (const [name, expected] of query) {
          const actual = params.get(name);
          if (actual === null || expected !== true && actual !== expected) return false;
        }
      }
      return true;
    }
  };
}
function pickRole(rules, method, path, query) {
  for (const rule of rules) if (rule.matches(method, path, query)) return rule.target;
  return "write";
}

// bench/.ab/src-new/config/ha.ts
import { z as z2 } from "zod";
var seconds = z2.number().positive("must be a positive number of seconds");
var status = z2.number().int().min(100).max(599);
function upstreamPoolSchema(url) {
  return z2.union([
    url,
    z2.strictObject({
      servers: z2.array(url).min(1, "must list at least one primary server"),
      backup: z2.array(url).default([])
    }).superRefine((pool, ctx) => {
      const seen = /* @__PURE__ */ new Set();
      [...pool.servers, ...pool.backup].forEach((href, i) => {
        const key2 = normalized(href);
        const path = i < pool.servers.length ? ["servers", i] : ["backup", i - pool.servers.length];
        if (seen.has(key2)) ctx.addIssue({ code: "custom", path, message: `${href} is listed twice in this pool` });
        seen.add(key2);
      });
    })
  ]);
}
var poolServers = (pool) => typeof pool === "string" ? { servers: [pool], backup: [] } : pool;
function normalized(href) {
  try {
    return new URL(href).href.replace(/\/+$/, "");
  } catch {
    return href;
  }
}
var healthSchema = z2.strictObject({
  /** Active checks; default: on when a role of the site has more than one server (something to fail over to). */
  checks: z2.boolean().optional(),
  interval: seconds.default(5),
  timeout: seconds.default(3),
  /** Relative to the server URL (its path prefix included); default `/v2/` on docker sites, `/` otherwise. */
  path: z2.string().startsWith("/", 'must start with "/"').optional(),
  /** Healthy answers; default 200 and 401 on docker sites (an auth-protected registry is up), 200–399 otherwise. */
  statuses: z2.array(status).min(1).optional(),
  /** Answers that count as a failure of the server (passive check); [] turns that off. */
  failStatuses: z2.array(status.min(500, "must be a 5xx status")).default([502, 503, 504]),
  /** How long a server that failed a request stays out before it is used (or checked back in) again. */
  backoff: seconds.default(10)
}).prefault({});
var adminSchema = z2.strictObject({
  host: z2.string().min(1).default("127.0.0.1"),
  port: z2.number().int().min(0).max(65535).default(9090)
});

// bench/.ab/src-new/upstream/upstream.ts
var Upstream = class {
  constructor(href) {
    this.href = href;
    const url = new URL(href);
    this.origin = url.origin;
    this.host = url.host;
    this.prefix = url.pathname.replace(/\/+$/, "");
  }
  href;
  origin;
  /** Without trailing slash; '' when the upstream is an origin root. */
  prefix;
  host;
  /** `pathAndQuery` is the raw request target (`/v2/x/blobs/uploads/?mount=…`), kept byte for byte. */
  target(pathAndQuery) {
    return this.origin + this.prefix + pathAndQuery;
  }
};

// bench/.ab/src-new/upstream/pool.ts
var Server = class {
  constructor(site, href, backoffMs, checked) {
    this.site = site;
    this.backoffMs = backoffMs;
    this.checked = checked;
    this.upstream = new Upstream(href);
  }
  site;
  backoffMs;
  checked;
  upstream;
  /** Requests to this server whose response has not ended yet (least-connections, in-flight gauge). */
  active = 0;
  /** Requests that failed on this server (passive failures), for /metrics. */
  failures = 0;
  /** Set by the app; receives each up/down change once. */
  onChange = () => {
  };
  #up = true;
  #downSince = 0;
  /** Not used again before this time, even if a health check passes (a passive failure's back-off). */
  #retryAt = 0;
  get href() {
    return this.upstream.href;
  }
  /** The health as last decided, without side effects (metrics, readiness). */
  get up() {
    return this.#up;
  }
  /**
   * May a request go here now? Without active checks a server comes back by itself once its
   * back-off is over (the next request is the check); with them, only a passed check brings it back.
   */
  available(now = Date.now()) {
    if (this.#up) return true;
    if (!this.checked && now >= this.#retryAt) {
      this.#change(true, "backoff", `back-off of ${this.backoffMs / 1e3} s is over`, now);
      return true;
    }
    return false;
  }
  /** A request failed here (connect error, reset, a fail status), or a health check did. */
  failed(via, reason, now = Date.now()) {
    if (via === "passive") {
      this.failures++;
      this.#retryAt = Math.max(this.#retryAt, now + this.backoffMs);
    }
    if (this.#up) this.#change(false, via, reason, now);
  }
  /** A health check passed: up again, unless a passive failure's back-off still runs. */
  passed(reason, now = Date.now()) {
    if (!this.#up && now >= this.#retryAt) this.#change(true, "active", reason, now);
  }
  #change(up, via, reason, now) {
    const downMs = now - this.#downSince;
    this.#up = up;
    if (!up) this.#downSince = now;
    this.onChange({
      time: new Date(now).toISOString(),
      event: up ? "upstream_up" : "upstream_down",
      site: this.site,
      upstream: this.href,
      via,
      reason,
      ...up && { downMs }
    });
  }
};
var Pool = class {
  constructor(role, primaries, backups) {
    this.role = role;
    this.primaries = primaries;
    this.backups = backups;
  }
  role;
  primaries;
  backups;
  #turn = 0;
  /** Requests this pool sent again to another server after a failure (for /metrics). */
  retries = 0;
  get servers() {
    return [...this.primaries, ...this.backups];
  }
  /** The healthy server to use next, skipping `skip`; backups only when allowed and no primary is available. */
  pick(backups, skip = NONE, now = Date.now()) {
    const turn = this.#turn++;
    if (this.#turn > 1e9) this.#turn = 0;
    return leastConnections(this.primaries, skip, now, turn) ?? (backups ? leastConnections(this.backups, skip, now, turn) : void 0);
  }
  /**
   * When every server looks down: the first untried one anyway (primaries first), since an attempt
   * may succeed where a refusal surely fails. Health marks are a guess until the next check.
   */
  lastResort(backups, skip = NONE) {
    return this.primaries.find((s) => !skip.has(s)) ?? (backups ? this.backups.find((s) => !skip.has(s)) : void 0);
  }
  /** Is there a healthy server for reads (any), or for writes (a primary, or a backup when allowed)? */
  ready(backups, now = Date.now()) {
    return this.primaries.some((s) => s.available(now)) || backups && this.backups.some((s) => s.available(now));
  }
};
var NONE = /* @__PURE__ */ new Set();
function leastConnections(servers, skip, now, turn) {
  let best;
  const n = servers.length;
  for (let i = 0; i < n; i++) {
    const server = servers[(turn + i) % n];
    if (skip.has(server) || !server.available(now)) continue;
    if (!best || server.active < best.active) best = server;
  }
  return best;
}
function compilePools(site, roles, options) {
  const read = poolServers(roles.read);
  const write = poolServers(roles.write);
  const hrefs = [...read.servers, ...read.backup, ...write.servers, ...write.backup];
  const distinct = /* @__PURE__ */ new Map();
  for (const href of hrefs) if (!distinct.has(key(href))) distinct.set(key(href), href);
  const servers = /* @__PURE__ */ new Map();
  for (const [k, href] of distinct) servers.set(k, new Server(site, href, options.backoffMs, options.checked));
  const resolve = (hrefList) => hrefList.map((href) => servers.get(key(href)));
  return {
    pools: {
      read: new Pool("read", resolve(read.servers), resolve(read.backup)),
      write: new Pool("write", resolve(write.servers), resolve(write.backup))
    },
    servers: [...servers.values()]
  };
}
function hasFailover(roles) {
  return [roles.read, roles.write].some((pool) => {
    const { servers, backup } = poolServers(pool);
    return servers.length + backup.length > 1;
  });
}
function key(href) {
  return new URL(href).href.replace(/\/+$/, "");
}

// bench/.ab/src-new/site/host.ts
function splitHost(host) {
  const lower = host.trim().toLowerCase();
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(lower);
  const name = (match?.[1] ?? lower).replace(/\.$/, "");
  return { name, port: match?.[2] || void 0 };
}
function compileHostPattern(pattern) {
  const expected = splitHost(pattern);
  const wildcard = expected.name.startsWith("*.") ? expected.name.slice(1) : void 0;
  return (host) => {
    const actual = splitHost(host);
    if (expected.port !== void 0 && actual.port !== expected.port) return false;
    if (wildcard) return actual.name.endsWith(wildcard) && actual.name.length > wildcard.length;
    return actual.name === expected.name;
  };
}

// bench/.ab/src-new/site/site.ts
function compileSite(config2) {
  const aliases = { ping: config2.ping, token: config2.token };
  const rules = [...config2.rules, ...presets[config2.preset]].map((rule) => compileRule(rule, aliases));
  const hostMatchers = config2.hosts.map(compileHostPattern);
  const urls = config2.upstreams ?? { read: config2.upstream, write: config2.upstream };
  const health = healthSettings(config2.health, config2.preset, hasFailover(urls));
  const { pools, servers } = compilePools(config2.name, urls, { backoffMs: health.backoffMs, checked: health.checks });
  return {
    name: config2.name,
    errorFormat: config2.preset === "docker" ? "registry" : "plain",
    maxBodySize: config2.maxBodySize,
    preserveHost: config2.preserveHost,
    forwardedHost: config2.forwardedHost,
    upstreams: { read: pools.read.primaries[0].upstream, write: pools.write.primaries[0].upstream },
    upstreamsByPrefix: servers.map((server) => server.upstream).sort((a, b) => b.prefix.length - a.prefix.length),
    pools,
    servers,
    health,
    writeToBackup: config2.writeToBackup,
    servesHost: (host) => hostMatchers.some((matches) => matches(host)),
    route: (method, path, query) => pickRole(rules, method, path, query)
  };
}
function siteFinder(sites) {
  return (host) => sites.find((site) => site.servesHost(host));
}

// bench/.ab/src-new/app.ts
function createApp(config2, appOptions) {
  const sites = config2.sites.map(compileSite);
  const metrics = new Metrics();
  const options = { ...appOptions, log: metrics.counting(appOptions.log) };
  for (const site of sites) for (const server of site.servers) server.onChange = options.healthLog ?? stderrHealthLog;
  const findSite = siteFinder(sites);
  const locals = new Map(sites.map((site, i) => [site, compileLocal(config2.sites[i], config2, options.files)]));
  const app2 = new Hono2();
  app2.all("*", async (c) => {
    const request2 = c.req.raw;
    const url = new URL(request2.url);
    const started = Date.now();
    const site = findSite(url.host);
    if (!site) {
      const response = errorResponse(formatForPath(url.pathname), 421, "UNSUPPORTED", `this router serves no site named ${url.host}`);
      options.log(entryFor(url, request2.method, started, response.status, options.clientAddress?.(c) ?? "", null));
      return response;
    }
    const local = locals.get(site);
    if (local) {
      const answered = await answerLocally(local, site, request2, url, started, options.clientAddress?.(c) ?? "", options.log);
      if (answered) return answered;
    }
    const role = site.route(request2.method, url.pathname, url.searchParams);
    if (role === "deny") {
      const response = errorResponse(site.errorFormat, 405, "DENIED", `site ${site.name} does not accept ${request2.method} ${url.pathname}`);
      options.log({ ...entryFor(url, request2.method, started, response.status, options.clientAddress?.(c) ?? "", null), site: site.name, role });
      return unreadBody(request2, response);
    }
    const exchange = {
      request: request2,
      url,
      clientAddress: options.clientAddress?.(c) ?? "",
      site,
      role,
      upstream: site.upstreams[role],
      startedAt: started,
      tally: { bytesIn: 0, bytesOut: 0, bodyTooLarge: false }
    };
    return forward(exchange, options);
  });
  const checks = startHealthChecks(sites, options.client);
  return Object.assign(app2, { admin: createAdminApp(sites, metrics), stop: () => checks.stop() });
}
async function answerLocally(local, site, request2, url, started, client2, log) {
  let answer;
  try {
    answer = await local(request2, url);
  } catch (error) {
    const response2 = errorResponse(site.errorFormat, 500, "UNAVAILABLE", `site ${site.name} could not read a local file`);
    log({ ...entryFor(url, request2.method, started, 500, client2, null), site: site.name, role: "static", error: String(error?.message ?? error) });
    return unreadBody(request2, response2);
  }
  if (!answer) return void 0;
  const { response, role } = answer;
  const bytesOut = response.body ? Number(response.headers.get("content-length") ?? 0) : 0;
  log({ ...entryFor(url, request2.method, started, response.status, client2, null), site: site.name, role, bytesOut });
  return unreadBody(request2, response);
}
async function forward(exchange, { client: client2, log }) {
  const { site, request: request2 } = exchange;
  let sent = exchange;
  let release = () => {
  };
  const finish = (status3, error) => {
    release();
    log({ ...entryFor(sent.url, request2.method, sent.startedAt, status3, sent.clientAddress, sent), ...error && { error } });
  };
  const declared = Number(request2.headers.get("content-length") ?? 0);
  if (site.maxBodySize > 0 && declared > site.maxBodySize) {
    finish(413, "body over limit");
    return unreadBody(request2, tooLarge(site));
  }
  const outcome = await sendWithFailover(exchange, client2);
  if (outcome.kind === "refused") {
    log({ ...entryFor(exchange.url, request2.method, exchange.startedAt, outcome.response.status, exchange.clientAddress, exchange), upstream: null, error: outcome.reason });
    return unreadBody(request2, outcome.response);
  }
  sent = outcome.exchange;
  if (outcome.kind === "failed") {
    const response2 = failure(site, sent, outcome.error);
    finish(response2.status, String(outcome.error?.message ?? outcome.error));
    return unreadBody(request2, response2);
  }
  release = outcome.release;
  const response = applyIncoming(sent, outcome.response);
  const status2 = response.status;
  const small = response.body ? smallBodyLength(response.headers) : void 0;
  if (response.body && small !== void 0) {
    let bytes;
    try {
      bytes = await readSmallBody(response.body, small);
    } catch (error) {
      const failed = failure(site, sent, error);
      finish(failed.status, `response body: ${String(error?.message ?? error)}`);
      return failed;
    }
    sent.tally.bytesOut = bytes.byteLength;
    finish(status2);
    return new Response(bytes, { status: status2, headers: response.headers });
  }
  const body2 = response.body ? tallyBody(
    response.body,
    (total) => sent.tally.bytesOut = total,
    0,
    (error) => finish(status2, error ? `response body: ${String(error?.message ?? error)}` : void 0)
  ) : null;
  if (!body2) finish(status2);
  return new Response(body2, { status: status2, headers: response.headers });
}
var SMALL_BODY = 64 * 1024;
function smallBodyLength(headers) {
  const declared = headers.get("content-length");
  if (declared === null || !/^\d+$/.test(declared)) return void 0;
  const length = Number(declared);
  return length <= SMALL_BODY ? length : void 0;
}
async function readSmallBody(body2, length) {
  const reader = body2.getReader();
  const chunks = [];
  let total = 0;
  for (; ; ) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > length) {
      void reader.cancel().catch(() => {
      });
      throw new Error(`upstream sent more than its Content-Length of ${length} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}
function unreadBody(request2, response) {
  if (request2.body && !request2.bodyUsed) void request2.body.cancel().catch(() => {
  });
  if (request2.body) response.headers.set("connection", "close");
  return response;
}
function tooLarge(site) {
  return errorResponse(site.errorFormat, 413, "SIZE_INVALID", `request body is larger than this site accepts (${site.maxBodySize} bytes)`);
}
function failure(site, exchange, error) {
  if (exchange.tally.bodyTooLarge) return tooLarge(site);
  if (error instanceof UpstreamError) {
    const status2 = error.kind === "timeout" ? 504 : 502;
    return errorResponse(site.errorFormat, status2, "UNAVAILABLE", `${exchange.role} upstream of site ${site.name}: ${error.message}`);
  }
  if (exchange.request.signal.aborted) {
    return errorResponse(site.errorFormat, 499, "UNAVAILABLE", "client closed the request");
  }
  return errorResponse(site.errorFormat, 502, "UNAVAILABLE", `forwarding to the ${exchange.role} upstream of site ${site.name} failed`);
}
function entryFor(url, method, started, status2, client2, exchange) {
  return {
    time: new Date(started).toISOString(),
    site: exchange?.site.name ?? null,
    host: url.host,
    method,
    path: url.pathname,
    status: status2,
    bytesIn: exchange?.tally.bytesIn ?? 0,
    bytesOut: exchange?.tally.bytesOut ?? 0,
    durationMs: Date.now() - started,
    role: exchange?.role ?? null,
    upstream: exchange?.upstream.href ?? null,
    client: client2
  };
}

// bench/.ab/src-new/config/schema.ts
import { z as z3 } from "zod";

// bench/.ab/src-new/config/size.ts
var UNITS = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
function parseSize(value) {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : void 0;
  const match = /^\s*(\d+)\s*([kmg]?)b?\s*$/i.exec(value);
  if (!match) return void 0;
  return Number(match[1]) * UNITS[match[2].toLowerCase()];
}

// bench/.ab/src-new/config/schema.ts
var upstreamUrl = z3.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && !url.search && !url.hash;
  } catch {
    return false;
  }
}, 'must be an absolute http(s) URL without query or fragment, e.g. "http://nexus:8081/repository/docker-group/"');
var size = z3.union([z3.number(), z3.string()]).transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === void 0) {
    ctx.addIssue({ code: "custom", message: 'must be 0 (no cap), a byte count or a size like "512m"' });
    return z3.NEVER;
  }
  return bytes;
});
var seconds2 = z3.number().positive("must be a positive number of seconds");
var hostPattern = z3.string().min(1).regex(/^(\*\.)?[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/i, 'must be a host name, "*.domain", or host:port');
var HTTP_METHOD = /^[A-Z]+$/;
var ruleSchema = z3.strictObject({
  methods: z3.array(z3.string().regex(HTTP_METHOD, "must be an upper-case HTTP method")).min(1).optional(),
  path: z3.string().startsWith("/", 'must start with "/"').optional(),
  query: z3.record(z3.string(), z3.union([z3.string(), z3.literal(true)])).optional(),
  /** `read`, `write`, `deny`, or a preset alias (`ping`, `token`). */
  to: z3.string().min(1)
});
var upstreamPool = upstreamPoolSchema(upstreamUrl);
var upstreamsSchema = z3.strictObject({ read: upstreamPool, write: upstreamPool });
var siteSchema = z3.strictObject({
  name: z3.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, "must be a short identifier"),
  hosts: z3.array(hostPattern).min(1, "must list at least one host"),
  preset: z3.enum(["docker", "generic"]).default("generic"),
  upstream: upstreamPool.optional(),
  upstreams: upstreamsSchema.optional(),
  rules: z3.array(ruleSchema).default([]),
  /** Which role answers the docker `/v2/` ping: "write" makes clients log in before a push. */
  ping: z3.enum(["read", "write"]).default("read"),
  /** Which role issues bearer tokens (the realm path is routed there). */
  token: z3.enum(["read", "write"]).default("read"),
  maxBodySize: size.default(0),
  /** Keep the client's Host (with its port) on the way out; false sends the upstream's own host. */
  preserveHost: z3.boolean().default(true),
  /** Send `X-Forwarded-Host` (one value: the Host the client used). */
  forwardedHost: z3.boolean().default(true),
  /** Folders served by the router itself, before the proxy rules (see config/serving.ts). */
  static: z3.array(staticMountSchema).default([]),
  /** Client bootstrap script and CA download of a docker site (on when `caCert` is set). */
  bootstrap: bootstrapSchema.optional(),
  /** Redirect plain-HTTP requests to HTTPS (off by default). */
  httpsRedirect: httpsRedirectSchema,
  /** Passive and active health checks of the site's servers (see config/ha.ts). */
  health: healthSchema,
  /** Let writes go to backup servers when no primary is healthy (only where backups are safe to write). */
  writeToBackup: z3.boolean().default(false)
}).superRefine((site, ctx) => {
  if (!site.upstream === !site.upstreams) {
    ctx.addIssue({ code: "custom", path: ["upstreams"], message: 'give exactly one of "upstream" (one URL or pool) or "upstreams" ({ read, write })' });
  }
  site.rules.forEach((rule, i) => {
    if (!["read", "write", "deny", "ping", "token"].includes(rule.to)) {
      ctx.addIssue({ code: "custom", path: ["rules", i, "to"], message: 'must be "read", "write", "deny", "ping" or "token"' });
    }
  });
});
var configSchema = z3.strictObject({
  /** One listener or several, each plain or TLS; an array once parsed (see config/serving.ts). */
  listen: listenSchema,
  /** The CA certificate (PEM) that signed the TLS certificates, as the `certs` command wrote it. */
  caCert: z3.string().min(1).optional(),
  sites: z3.array(siteSchema).min(1, "must list at least one site"),
  timeouts: z3.strictObject({
    /** Idle time without a byte moving, not a cap on the whole transfer (docker layers take long). */
    idle: seconds2.default(3600),
    connect: seconds2.default(10),
    /** How long a stopping server lets transfers in flight finish. */
    shutdownGrace: seconds2.default(30)
  }).default({ idle: 3600, connect: 10, shutdownGrace: 30 }),
  accessLog: z3.boolean().default(true),
  /** The admin listener (`/metrics`, `/healthz`, `/readyz`); none unless configured. */
  admin: adminSchema.optional()
});

// bench/.ab/src-new/config/default.ts
var defaultConfig = {
  listen: { host: "0.0.0.0", port: 8080 },
  sites: [
    {
      name: "docker",
      hosts: ["idocker.io"],
      preset: "docker",
      upstreams: { read: "http://127.0.0.1:8082", write: "http://127.0.0.1:8083" },
      maxBodySize: 0
    },
    {
      name: "web",
      hosts: ["repo.example.com"],
      preset: "generic",
      upstream: "http://127.0.0.1:8081",
      maxBodySize: "512m"
    }
  ]
};

// bench/.ab/src-new/config/load.ts
var ConfigError = class extends Error {
  name = "ConfigError";
};
function parseConfig(data, source2 = "config") {
  const result = configSchema.safeParse(data);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${fieldPath(issue.path) || "(top level)"}: ${issue.message}`);
  throw new ConfigError(`${source2} is invalid:
${lines.join("\n")}`);
}
function parseConfigText(text2, source2 = "config") {
  let data;
  try {
    data = JSON.parse(text2);
  } catch (error) {
    throw new ConfigError(`${source2} is not valid JSON: ${error.message}`);
  }
  return parseConfig(data, source2);
}
var loadDefaultConfig = () => parseConfig(defaultConfig, "default config");
function fieldPath(path) {
  return path.map((part, i) => typeof part === "number" ? `[${part}]` : `${i ? "." : ""}${String(part)}`).join("");
}

// bench/.ab/src-new/config/paths.ts
function dirnameOf(path) {
  const cut = path.replace(/\/+$/, "").lastIndexOf("/");
  if (cut < 0) return ".";
  return cut === 0 ? "/" : path.slice(0, cut);
}
function resolveFrom(base, path) {
  if (path.startsWith("/") || base === "." || base === "") return path;
  return `${base.replace(/\/+$/, "")}/${path}`;
}
function resolveConfigPaths(config2, baseDir) {
  const at = (path) => resolveFrom(baseDir, path);
  return {
    ...config2,
    listen: config2.listen.map((entry) => ({ ...entry, certs: entry.certs.map(({ cert, key: key2 }) => ({ cert: at(cert), key: at(key2) })) })),
    ...config2.caCert !== void 0 && { caCert: at(config2.caCert) },
    sites: config2.sites.map((site) => ({ ...site, static: site.static.map((mount) => ({ ...mount, dir: at(mount.dir) })) }))
  };
}

// bench/.ab/src-new/config/cli.ts
function configFromArgs(argv, env, readText) {
  const flag = argv.indexOf("--config");
  if (flag >= 0 && !argv[flag + 1]) throw new ConfigError("--config needs a file path");
  const path = flag >= 0 ? argv[flag + 1] : env("REGISTRY_ROUTER_CONFIG");
  let config2;
  if (path) {
    let text2;
    try {
      text2 = readText(path);
    } catch (error) {
      throw new ConfigError(`cannot read config file ${path}: ${error.message}`);
    }
    config2 = resolveConfigPaths(parseConfigText(text2, path), dirnameOf(path));
  } else {
    config2 = loadDefaultConfig();
  }
  const port = env("PORT");
  if (port !== void 0 && port !== "") {
    if (!/^\d+$/.test(port) || Number(port) > 65535) throw new ConfigError(`PORT must be a port number, got "${port}"`);
    config2 = { ...config2, listen: config2.listen.map((entry, i) => i === 0 ? { ...entry, port: Number(port) } : entry) };
  }
  if (argv.includes("--quiet")) config2 = { ...config2, accessLog: false };
  return { config: config2, source: path ?? "built-in default config" };
}

// bench/.ab/src-new/config/features.ts
var CAPABILITIES = {
  node: { tls: true, sni: true, files: true },
  // Bun.serve({ tls: [{ serverName, cert, key }, …] }) picks by SNI.
  bun: { tls: true, sni: true, files: true },
  // Bun's node:https has no SNICallback (nor setSecureContext: SIGHUP cannot swap certificates there).
  "bun-node": { tls: true, sni: false, files: true },
  // Deno.serve({ cert, key }) takes one certificate per listener.
  deno: { tls: true, sni: false, files: true },
  // The edge terminates TLS; a worker has no file system.
  worker: { tls: false, sni: false, files: false }
};
function featureProblems(runtime, config2) {
  const can = CAPABILITIES[runtime];
  const problems = [];
  config2.listen.forEach((entry, i) => {
    if (!isTls(entry)) return;
    if (!can.tls) {
      problems.push(
        `listen[${i}]: TLS listeners (cert/key) are not supported on ${runtime}: the platform terminates TLS in front of the worker (Cloudflare serves your certificate); remove cert/key/certs`
      );
    } else if (!can.sni && entry.certs.length > 1) {
      problems.push(`listen[${i}].certs: ${runtime} serves one certificate per listener; give one cert/key pair (e.g. one certificate listing every host) or one listener per certificate${runtime === "bun-node" ? ", or run src/bun.ts" : ""}`);
    }
  });
  if (!can.files) {
    if (config2.caCert !== void 0) {
      problems.push(`caCert: ${runtime} has no file system to read the CA from; serve the bootstrap script and ca.crt from a Node, Bun or Deno router, or remove caCert`);
    }
    config2.sites.forEach((site, i) => {
      if (site.static.length) {
        problems.push(`sites[${i}].static: ${runtime} has no file system to serve folders from; use the platform's static assets, or remove static`);
      }
    });
  }
  return problems;
}
function checkFeaturesFor(runtime, config2) {
  const problems = featureProblems(runtime, config2);
  if (problems.length) throw new ConfigError(`this config asks for what ${runtime} cannot do:
${problems.map((line) => `  ${line}`).join("\n")}`);
}

// bench/.ab/src-new/forward/idle-timer.ts
var IdleTimer = class {
  constructor(ms, parent) {
    this.ms = ms;
    if (parent.aborted) this.#controller.abort(parent.reason);
    else parent.addEventListener("abort", () => this.#controller.abort(parent.reason), { once: true });
    this.touch();
  }
  ms;
  #controller = new AbortController();
  #timer;
  fired = false;
  get signal() {
    return this.#controller.signal;
  }
  touch() {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.fired = true;
      this.#controller.abort(new Error("idle timeout"));
    }, this.ms);
  }
  stop() {
    clearTimeout(this.#timer);
  }
  /** Re-arms the timer on every chunk that passes; `onEnd` runs when the stream finishes or fails. */
  watch(stream, onEnd) {
    return tapStream(stream, { onChunk: () => this.touch(), onEnd });
  }
};

// bench/.ab/src-new/forward/fetch-client.ts
function fetchClient(timeouts, options = {}) {
  const fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
  return {
    async send(outgoing) {
      const idle = new IdleTimer(timeouts.idle * 1e3, outgoing.signal);
      if (options.acceptEncoding) outgoing.headers.set("accept-encoding", options.acceptEncoding);
      const broken = new AbortController();
      const upload = outgoing.body && tapStream(outgoing.body, { onChunk: () => idle.touch(), onError: (error) => broken.abort(error) });
      let response;
      try {
        response = await fetchFn(outgoing.url, {
          method: outgoing.method,
          headers: outgoing.headers,
          body: upload,
          redirect: "manual",
          duplex: "half",
          signal: AbortSignal.any([idle.signal, broken.signal]),
          ...options.init
        });
      } catch (error) {
        idle.stop();
        if (outgoing.signal.aborted) throw error;
        if (broken.signal.aborted) throw broken.signal.reason;
        if (idle.fired) throw new UpstreamError("timeout", `no answer from ${new URL(outgoing.url).host} within ${timeouts.idle} s`);
        throw new UpstreamError("unreachable", `${new URL(outgoing.url).host} is unreachable`, { cause: error });
      }
      const headers = new Headers(response.headers);
      if (options.decodesBodies && headers.has("content-encoding")) {
        headers.delete("content-encoding");
        headers.delete("content-length");
      }
      const body2 = response.body ? idle.watch(response.body, () => idle.stop()) : (idle.stop(), null);
      return { status: response.status, headers, body: body2 };
    }
  };
}

// bench/.ab/src-new/forward/undici-client.ts
import { Readable } from "node:stream";
import { Agent, errors, request } from "undici";
function undiciClient(timeouts) {
  const agent = new Agent({
    connect: { timeout: timeouts.connect * 1e3 },
    headersTimeout: timeouts.idle * 1e3,
    bodyTimeout: timeouts.idle * 1e3
  });
  return {
    async send(outgoing) {
      const headers = {};
      outgoing.headers.forEach((value, name) => {
        headers[name] = value;
      });
      try {
        const response = await request(outgoing.url, {
          method: outgoing.method,
          headers,
          body: outgoing.body ? Readable.fromWeb(outgoing.body) : null,
          signal: outgoing.signal,
          dispatcher: agent,
          // undici closes the connection after every HEAD (in case a broken server sends a body
          // anyway): one new upstream connection per manifest/blob check. Registries answer HEAD
          // correctly; keep the connection.
          ...outgoing.method === "HEAD" && { reset: false }
        });
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          if (Array.isArray(value)) for (const item of value) responseHeaders.append(name, item);
          else if (value !== void 0) responseHeaders.set(name, value);
        }
        const status2 = response.statusCode;
        if (outgoing.method === "HEAD" || status2 === 204 || status2 === 304) {
          response.body.dump().catch(() => {
          });
          return { status: status2, headers: responseHeaders, body: null };
        }
        return { status: status2, headers: responseHeaders, body: Readable.toWeb(response.body) };
      } catch (error) {
        if (outgoing.signal.aborted) throw error;
        const host = new URL(outgoing.url).host;
        if (error instanceof errors.HeadersTimeoutError || error instanceof errors.ConnectTimeoutError) {
          throw new UpstreamError("timeout", `no answer from ${host} within ${timeouts.idle} s`, { cause: error });
        }
        throw new UpstreamError("unreachable", `${host} is unreachable`, { cause: error });
      }
    },
    close: () => agent.close()
  };
}

// bench/.ab/src-new/local/node-files.ts
import { openAsBlob } from "node:fs";
import { open, readdir, realpath, stat } from "node:fs/promises";
var CHUNK = 64 * 1024;
var ABSENT = /* @__PURE__ */ new Set(["ENOENT", "ENOTDIR", "ELOOP", "ENAMETOOLONG"]);
function absent(error) {
  return ABSENT.has(error?.code ?? "");
}
var kindOf = (entry) => entry.isFile() ? "file" : entry.isDirectory() ? "directory" : "other";
var nodeFiles = {
  async stat(path) {
    try {
      const info = await stat(path);
      return { kind: kindOf(info), size: info.size, mtimeMs: info.mtimeMs };
    } catch (error) {
      if (absent(error)) return void 0;
      throw error;
    }
  },
  async realpath(path) {
    try {
      return await realpath(path);
    } catch (error) {
      if (absent(error)) return void 0;
      throw error;
    }
  },
  async open(path, range) {
    if (globalThis.process?.versions?.bun) {
      const blob = await openAsBlob(path);
      return range ? blob.slice(range.start, range.end + 1) : blob;
    }
    const handle = await open(path, "r");
    let position = range?.start ?? 0;
    const end = range ? range.end + 1 : Infinity;
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await handle.close();
    };
    return new ReadableStream(
      {
        async pull(controller) {
          try {
            const want = Math.min(CHUNK, end - position);
            if (want <= 0) {
              await close();
              controller.close();
              return;
            }
            const buffer = new Uint8Array(want);
            const { bytesRead } = await handle.read(buffer, 0, want, position);
            if (bytesRead === 0) {
              await close();
              controller.close();
              return;
            }
            position += bytesRead;
            controller.enqueue(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
          } catch (error) {
            await close().catch(() => {
            });
            controller.error(error);
          }
        },
        async cancel() {
          await close();
        }
      },
      { highWaterMark: 0 }
    );
  },
  async readdir(path) {
    const entries = await readdir(path, { withFileTypes: true });
    return Promise.all(
      entries.map(async (entry) => {
        if (!entry.isSymbolicLink()) return { name: entry.name, kind: kindOf(entry) };
        const target = await nodeFiles.stat(`${path}/${entry.name}`);
        return { name: entry.name, kind: target?.kind ?? "other" };
      })
    );
  }
};

// bench/.ab/src-new/node-listen.ts
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { createSecureContext } from "node:tls";
import { serve } from "@hono/node-server";
var SERVER_OPTIONS = { requestTimeout: 0, headersTimeout: 6e4, keepAliveTimeout: 65e3 };
function loadCertPairs(pairs, warn2 = () => {
}) {
  return pairs.map(({ cert, key: key2 }) => {
    try {
      const certPem = readFileSync(cert);
      const keyPem = readFileSync(key2);
      const context = createSecureContext({ cert: certPem, key: keyPem });
      const x509 = new X509Certificate(certPem);
      const expires = Date.parse(x509.validTo);
      if (expires < Date.now()) warn2(`registry-router: certificate ${cert} expired on ${x509.validTo}`);
      else if (expires < Date.now() + 14 * 864e5) warn2(`registry-router: certificate ${cert} expires on ${x509.validTo}`);
      return { cert: certPem, key: keyPem, context, x509 };
    } catch (error) {
      throw new Error(`cannot use TLS certificate ${cert} with key ${key2}: ${error.message}`);
    }
  });
}
function pick(pairs, servername) {
  return pairs.find((pair) => pair.x509.checkHost(servername) !== void 0) ?? pairs[0];
}
function listen(entry, fetch2, onListening, warn2) {
  if (!isTls(entry)) {
    let listener2;
    const server2 = serve({ fetch: fetch2, hostname: entry.host, port: entry.port, serverOptions: SERVER_OPTIONS }, (info) => onListening(listener2, info));
    listener2 = { entry, server: server2, scheme: "http", reload() {
    } };
    return listener2;
  }
  let pairs = loadCertPairs(entry.certs, warn2);
  const first = pairs[0];
  let listener;
  const server = serve(
    {
      fetch: fetch2,
      hostname: entry.host,
      port: entry.port,
      createServer: createHttpsServer,
      serverOptions: {
        ...SERVER_OPTIONS,
        cert: first.cert,
        key: first.key,
        // Several certificates: choose by the name the client asks for; no SNI (an IP) gets the first.
        ...entry.certs.length > 1 && {
          SNICallback: (servername, done) => done(null, pick(pairs, servername).context)
        }
      }
    },
    (info) => onListening(listener, info)
  );
  listener = {
    entry,
    server,
    scheme: "https",
    reload() {
      if (typeof server.setSecureContext !== "function") throw new Error("this runtime cannot swap certificates in place (Bun: use src/bun.ts); restart the router");
      const next = loadCertPairs(entry.certs, warn2);
      server.setSecureContext({ cert: next[0].cert, key: next[0].key });
      pairs = next;
    }
  };
  return listener;
}

// bench/.ab/src-new/node.ts
var start;
try {
  start = configFromArgs(process.argv.slice(2), (name) => process.env[name], (path) => readFileSync2(path, "utf8"));
  checkFeaturesFor(process.versions.bun ? "bun-node" : "node", start.config);
} catch (error) {
  console.error(String(error.message));
  process.exit(2);
}
var { config, source } = start;
var client = process.versions.bun ? fetchClient(config.timeouts, { init: { decompress: false } }) : undiciClient(config.timeouts);
var app = createApp(config, {
  client,
  log: config.accessLog ? jsonLinesLog : quietLog,
  clientAddress: (c) => getConnInfo(c).remote.address,
  files: nodeFiles
});
var warn = (line) => console.error(line);
var listeners;
try {
  listeners = config.listen.map(
    (entry) => listen(entry, app.fetch, (listener, info) => {
      const host = info.address.includes(":") ? `[${info.address}]` : info.address;
      console.error(`registry-router listening on ${listener.scheme}://${host}:${info.port} (${source})`);
    }, warn)
  );
} catch (error) {
  console.error(String(error.message));
  process.exit(2);
}
for (const { server, entry } of listeners) {
  server.once("error", (error) => {
    console.error(`registry-router: cannot listen on ${entry.host}:${entry.port}: ${error.message}`);
    process.exit(1);
  });
}
var admin = config.admin ? serve2(
  { fetch: app.admin.fetch, hostname: config.admin.host, port: config.admin.port },
  (info) => console.error(`registry-router admin endpoints (/metrics, /healthz, /readyz) on http://${info.address.includes(":") ? `[${info.address}]` : info.address}:${info.port}`)
) : void 0;
admin?.once("error", (error) => {
  console.error(`registry-router: cannot listen on ${config.admin.host}:${config.admin.port} (admin): ${error.message}`);
  process.exit(1);
});
process.on("SIGHUP", () => {
  for (const listener of listeners) {
    if (listener.scheme !== "https") continue;
    try {
      listener.reload();
      console.error(`registry-router: SIGHUP, reloaded the certificates of ${listener.entry.host}:${listener.entry.port}`);
    } catch (error) {
      console.error(`registry-router: SIGHUP, kept the old certificates of ${listener.entry.host}:${listener.entry.port}: ${error.message}`);
    }
  }
});
function shutdown(signal) {
  console.error(`registry-router: ${signal}, finishing transfers in flight (up to ${config.timeouts.shutdownGrace} s)`);
  app.stop();
  admin?.close();
  let open2 = listeners.length;
  for (const { server } of listeners) server.close(() => --open2 === 0 && process.exit(0));
  setInterval(() => listeners.forEach(({ server }) => server.closeIdleConnections()), 100).unref();
  setTimeout(() => {
    listeners.forEach(({ server }) => server.closeAllConnections());
    process.exit(0);
  }, config.timeouts.shutdownGrace * 1e3).unref();
}
process.once("SIGTERM", () => shutdown("SIGTERM"));
process.once("SIGINT", () => shutdown("SIGINT"));
