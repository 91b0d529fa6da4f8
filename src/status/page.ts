/**
 * The status page of the admin listener (`GET /`): one static HTML document with its CSS and script
 * inline, no external assets, no build step. It holds no data: the script polls `status.json` and
 * builds the DOM with `textContent` and `setAttribute` only (never `innerHTML`), so every value it
 * shows (site names, URLs, paths, failure reasons) is rendered as text, whatever it contains.
 * The admin app serves it with a Content-Security-Policy that allows exactly this style and script
 * (by hash) and connections to the same origin.
 */

/** How often the page asks for `status.json`, in ms. */
export const POLL_MS = 1500;

const STYLE = `
:root { color-scheme: light dark; --bg: #f4f5f7; --card: #fff; --fg: #1c2230; --muted: #5d6675; --line: #dde1e7; --soft: #eef0f3;
  --up: #1e8e3e; --up-bg: #e6f4ea; --down: #c5221f; --down-bg: #fce8e6; --warn: #a05a00; --warn-bg: #fef3e0;
  --ok-bar: #4f7cd8; --e4-bar: #f0a030; --e5-bar: #d93025; --head: #1c2230; --head-fg: #fff; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #14171c; --card: #1d2128; --fg: #e4e7ec; --muted: #9aa3b2; --line: #323843; --soft: #262b33;
    --up: #5bc27a; --up-bg: #173223; --down: #ff7b72; --down-bg: #3b1d1d; --warn: #f0b35a; --warn-bg: #3a2a12; --head: #0d0f13; }
}
* { box-sizing: border-box; }
body { overflow-wrap: normal; word-break: normal; margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header { background: var(--head); color: var(--head-fg); padding: 12px 24px; display: flex; flex-wrap: wrap; align-items: center; gap: 12px 20px; }
header h1 { font-size: 18px; margin: 0; font-weight: 650; letter-spacing: .01em; }
header .meta { color: #b9c0cc; font-size: 13px; }
header .spacer { flex: 1; }
main { padding: 4px 24px 24px; max-width: 1400px; }
.badge { display: inline-block; border-radius: 999px; padding: 2px 10px; font-weight: 650; font-size: 12px; white-space: nowrap; }
.badge.ok { background: var(--up-bg); color: var(--up); }
.badge.bad { background: var(--down-bg); color: var(--down); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.badge.info { background: var(--soft); color: var(--muted); }
.problems { margin: 16px 0 0; padding: 10px 14px; border-radius: 8px; background: var(--down-bg); color: var(--down); }
.problems ul { margin: 4px 0 0; padding-left: 20px; }
.conn { margin: 16px 0 0; padding: 10px 14px; border-radius: 8px; background: var(--warn-bg); color: var(--warn); }
section.site { background: var(--card); border: 1px solid var(--line); border-radius: 10px; margin: 16px 0 0; padding: 14px 18px 16px; }
section.site > h2 { font-size: 17px; margin: 0 0 8px; display: flex; flex-wrap: wrap; align-items: center; gap: 8px; }
h3 { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 16px 0 6px; font-weight: 650; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; padding: 5px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td { padding: 6px 8px; border-bottom: 1px solid var(--soft); vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.down td { background: color-mix(in srgb, var(--down-bg) 60%, transparent); }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
.state { display: inline-flex; align-items: center; gap: 6px; font-weight: 650; white-space: nowrap; }
.state .dot { width: 10px; height: 10px; border-radius: 50%; display: inline-block; }
.state.up { color: var(--up); } .state.up .dot { background: var(--up); }
.state.down { color: var(--down); } .state.down .dot { background: var(--down); }
.state.unknown { color: var(--muted); } .state.unknown .dot { background: transparent; border: 2px solid var(--muted); width: 10px; height: 10px; }
tr.unknown td { background: color-mix(in srgb, var(--soft) 70%, transparent); }
.why { font-weight: 400; white-space: normal; max-width: 260px; }
.progress { display: inline-block; width: 48px; height: 6px; border-radius: 3px; background: var(--soft); vertical-align: middle;
  margin-right: 6px; overflow: hidden; }
.progress i { display: block; height: 100%; background: var(--ok-bar); }
.reason { max-width: 420px; }
.grid { display: grid; grid-template-columns: minmax(280px, 1fr) minmax(280px, 1fr); gap: 0 28px; }
@media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
.chart { display: flex; gap: 10px; align-items: flex-end; height: 96px; padding-top: 6px; }
.col { flex: 1; display: flex; flex-direction: column; align-items: stretch; height: 100%; min-width: 44px; }
.bar { flex: 1; display: flex; flex-direction: column-reverse; background: var(--soft); border-radius: 4px; overflow: hidden; }
.seg.ok { background: var(--ok-bar); } .seg.e4 { background: var(--e4-bar); } .seg.e5 { background: var(--e5-bar); }
.col .lab { text-align: center; font-size: 11px; color: var(--muted); margin-top: 3px; white-space: nowrap; }
.legend { display: flex; gap: 14px; font-size: 12px; color: var(--muted); margin-top: 6px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
.legend i.ok { background: var(--ok-bar); } .legend i.e4 { background: var(--e4-bar); } .legend i.e5 { background: var(--e5-bar); }
.summary { font-size: 13px; color: var(--muted); }
.summary b { color: var(--fg); font-variant-numeric: tabular-nums; }
.summary b.e4 { color: var(--warn); } .summary b.e5 { color: var(--down); }
h3 .count { display: inline-block; min-width: 20px; text-align: center; margin-left: 4px; padding: 0 7px; border-radius: 999px;
  background: var(--soft); color: var(--fg); letter-spacing: 0; }
.note { margin-top: 4px; }
.empty { color: var(--muted); font-style: italic; padding: 4px 0; }
footer { color: var(--muted); font-size: 12px; margin-top: 18px; }
footer a { color: inherit; }
`;

const SCRIPT = `
(function () {
  'use strict';
  var POLL_MS = ${POLL_MS};
  var main = document.getElementById('main');
  var readyBadge = document.getElementById('ready');
  var updated = document.getElementById('updated');
  var last = null;

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k) && attrs[k] !== undefined && attrs[k] !== null) {
      if (k === 'class') el.className = attrs[k]; else el.setAttribute(k, String(attrs[k]));
    }
    for (var i = 2; i < arguments.length; i++) add(el, arguments[i]);
    return el;
  }
  function add(el, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { add(el, c); }); return; }
    el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
  function bytes(n) {
    if (!(n > 0)) return '0 B';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = Math.min(units.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
    var v = n / Math.pow(1024, i);
    return (i === 0 ? String(n) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + units[i];
  }
  function duration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60); s %= 60;
    if (m < 60) return m + ' min ' + s + ' s';
    var hr = Math.floor(m / 60); m %= 60;
    if (hr < 48) return hr + ' h ' + m + ' min';
    return Math.floor(hr / 24) + ' d ' + (hr % 24) + ' h';
  }
  function clock(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  }
  function hm(iso) {
    var d = new Date(iso);
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
  }
  function num(n) { return Number(n || 0).toLocaleString('en-US'); }
  function ago(now, iso) { return duration(now - Date.parse(iso)) + ' ago'; }
  /** A URL or path that may wrap after a slash, colon, ? or & of its path (a digest after sha256:), never after the scheme. */
  function breakable(text) {
    text = String(text);
    var scheme = text.indexOf('://');
    var host = scheme < 0 ? 0 : text.indexOf('/', scheme + 3);
    if (host < 0) return text;
    var parts = [text.slice(0, host + 1)];
    text.slice(host + 1).split(/(?<=[\/?&:])/).forEach(function (part) { if (part) parts.push(h('wbr'), part); });
    return parts;
  }

  function state(s) {
    return h('span', { class: 'state ' + s.state }, h('span', { class: 'dot' }), s.state);
  }
  /** How the state is known: the last check and the last answered request, each with its time. */
  function evidence(s, now) {
    var lines = [];
    // A failed check's cause is the last failure's (next column) unless it changed since.
    var cause = s.lastCheck && (s.lastCheck.ok || !s.lastFailure || s.lastFailure.reason !== s.lastCheck.reason)
      ? h('div', { class: 'muted small' }, s.lastCheck.reason) : null;
    if (s.lastCheck) lines.push(h('div', null, (s.lastCheck.ok ? 'check passed ' : 'check failed ') + ago(now, s.lastCheck.at), cause));
    if (s.lastAnswer) lines.push(h('div', null, 'answered a request ' + ago(now, s.lastAnswer.at) + ' (' + s.lastAnswer.status + ')'));
    return lines.length ? lines : h('span', { class: 'muted' }, 'never checked, no request answered');
  }

  function serverRows(site, now) {
    var rows = [];
    site.roles.forEach(function (role) {
      role.servers.forEach(function (s, i) {
        var since = h('span', { title: new Date(s.since).toString() }, (s.changed ? 'for ' + duration(now - Date.parse(s.since)) : 'since start'),
          h('div', { class: 'muted small' }, clock(s.since)));
        var failure = s.lastFailure
          ? h('div', { class: 'reason' }, h('span', { class: 'mono small' }, s.lastFailure.reason),
            h('div', { class: 'muted small' },
              clock(s.lastFailure.at) + ' \\u00b7 ' + s.lastFailure.via + ' \\u00b7 ' + duration(now - Date.parse(s.lastFailure.at)) + ' ago'))
          : h('span', { class: 'muted' }, '\\u2014');
        rows.push(h('tr', { class: s.state, 'data-role': role.role, 'data-server': s.href, 'data-state': s.state },
          h('td', null, i === 0 ? h('b', null, role.role) : ''),
          h('td', null, s.tier === 'backup' ? h('span', { class: 'badge info' }, 'backup') : h('span', { class: 'muted small' }, 'primary')),
          h('td', { class: 'mono' }, breakable(s.href)),
          h('td', null, state(s), s.state === 'unknown' ? h('div', { class: 'why muted small', 'data-testid': 'why' }, s.reason) : null),
          h('td', null, since),
          h('td', { class: 'small', 'data-testid': 'evidence' }, evidence(s, now)),
          h('td', null, failure),
          h('td', { class: 'num' }, num(s.downs)),
          h('td', { class: 'num' }, num(s.failures)),
          h('td', { class: 'num' }, num(s.inFlight))));
      });
      if (role.retries) rows.push(h('tr', null, h('td'),
        h('td', { colspan: 9, class: 'muted small' }, num(role.retries) + ' GET/HEAD retried on another ' + role.role + ' server')));
    });
    return rows;
  }

  function requestsBlock(requests, testid) {
    var minutes = requests.minutes || [];
    var max = 1;
    minutes.forEach(function (m) { if (m.requests > max) max = m.requests; });
    var recent = { requests: 0, clientErrors: 0, serverErrors: 0, bytesIn: 0, bytesOut: 0 };
    minutes.forEach(function (m) { for (var k in recent) recent[k] += m[k]; });
    var chart = h('div', { class: 'chart', 'aria-label': 'requests per minute' });
    minutes.forEach(function (m, i) {
      var bar = h('div', { class: 'bar' });
      var ok = m.requests - m.clientErrors - m.serverErrors;
      [['ok', ok], ['e4', m.clientErrors], ['e5', m.serverErrors]].forEach(function (p) {
        if (p[1] > 0) { var seg = h('div', { class: 'seg ' + p[0] }); seg.style.height = (100 * p[1] / max) + '%'; bar.appendChild(seg); }
      });
      bar.title = hm(m.start) + ': ' + num(m.requests) + ' requests, ' + num(m.clientErrors) + ' 4xx, ' + num(m.serverErrors) + ' 5xx';
      add(chart, h('div', { class: 'col' }, bar, h('div', { class: 'lab' }, (i === minutes.length - 1 ? 'now' : hm(m.start)) + ' \\u00b7 ' + num(m.requests))));
    });
    var table = h('table', { 'data-testid': testid },
      h('thead', null, h('tr', null, h('th', null, 'minute'), h('th', { class: 'num' }, 'requests'), h('th', { class: 'num' }, '4xx'),
        h('th', { class: 'num' }, '5xx'), h('th', { class: 'num' }, 'in'), h('th', { class: 'num' }, 'out'))),
      h('tbody', null, minutes.slice().reverse().map(function (m, i) {
        return h('tr', null, h('td', null, hm(m.start) + (i === 0 ? ' (now)' : '')), h('td', { class: 'num' }, num(m.requests)),
          h('td', { class: 'num' }, num(m.clientErrors)), h('td', { class: 'num' }, num(m.serverErrors)),
          h('td', { class: 'num' }, bytes(m.bytesIn)), h('td', { class: 'num' }, bytes(m.bytesOut)));
      })),
      h('tfoot', null, h('tr', null, h('td', { class: 'muted' }, 'since start'), h('td', { class: 'num muted' }, num(requests.total.requests)),
        h('td', { class: 'num muted' }, num(requests.total.clientErrors)), h('td', { class: 'num muted' }, num(requests.total.serverErrors)),
        h('td', { class: 'num muted' }, bytes(requests.total.bytesIn)), h('td', { class: 'num muted' }, bytes(requests.total.bytesOut)))));
    return h('div', { class: 'grid' },
      h('div', null, h('h3', null, 'Requests, last ' + minutes.length + ' minutes'),
        h('div', { class: 'summary', 'data-testid': 'recent' }, h('b', null, num(recent.requests)), ' requests \\u00b7 ',
          h('b', { class: recent.clientErrors ? 'e4' : '' }, num(recent.clientErrors)), ' 4xx \\u00b7 ',
          h('b', { class: recent.serverErrors ? 'e5' : '' }, num(recent.serverErrors)), ' 5xx \\u00b7 ',
          bytes(recent.bytesIn) + ' in \\u00b7 ' + bytes(recent.bytesOut) + ' out'),
        chart,
        h('div', { class: 'legend' }, h('span', null, h('i', { class: 'ok' }), '2xx/3xx'),
          h('span', null, h('i', { class: 'e4' }), '4xx'), h('span', null, h('i', { class: 'e5' }), '5xx'))),
      h('div', null, h('h3', null, 'Per minute'), table));
  }

  function transfersBlock(site, now) {
    var list = site.transfers || [];
    var head = h('h3', null, 'Transfers in flight ', h('span', { class: 'count', 'data-testid': 'in-flight' }, num(site.inFlight)));
    if (!list.length) return [head, h('div', { class: 'empty' },
      site.inFlight ? num(site.inFlight) + ' waiting for or streaming a response (byte counts not tracked)' : 'none')];
    var rows = list.map(function (t) {
      var bar = null;
      if (t.percent !== null && t.percent !== undefined) { bar = h('span', { class: 'progress' }, h('i')); bar.firstChild.style.width = t.percent + '%'; }
      return h('tr', { 'data-transfer': t.id },
        h('td', null, h('b', null, t.method), ' ', h('span', { class: 'mono small' }, breakable(t.path))),
        h('td', null, t.role, t.upstream ? h('div', { class: 'mono small muted' }, breakable(t.upstream)) : null),
        h('td', { class: 'mono small' }, t.client, t.worker ? h('div', { class: 'muted small' }, 'worker ' + t.worker) : null),
        h('td', { class: 'num' }, t.elapsedMs < 10000 ? (t.elapsedMs / 1000).toFixed(1) + ' s' : duration(t.elapsedMs)),
        h('td', { class: 'num' }, bytes(t.bytesIn) + (t.totalIn !== null && t.totalIn !== undefined ? ' of ' + bytes(t.totalIn) : '')),
        h('td', { class: 'num' }, bytes(t.bytesOut) + (t.totalOut !== null && t.totalOut !== undefined ? ' of ' + bytes(t.totalOut) : '')),
        h('td', { class: 'num', 'data-testid': 'percent' }, bar, t.percent !== null && t.percent !== undefined ? t.percent + ' %' : '\u2014'),
        h('td', { class: 'num' }, bytes(t.rate) + '/s'));
    });
    var more = site.inFlight > list.length ? h('div', { class: 'muted small' }, num(site.inFlight - list.length) + ' more not listed') : null;
    return [head, h('table', null,
      h('thead', null, h('tr', null, h('th', null, 'request'), h('th', null, 'role'), h('th', null, 'client'), h('th', { class: 'num' }, 'elapsed'),
        h('th', { class: 'num' }, 'received'), h('th', { class: 'num' }, 'sent'), h('th', { class: 'num' }, 'done'), h('th', { class: 'num' }, 'rate'))),
      h('tbody', null, rows)), more];
  }

  function shared(site) {
    var seen = {}, twice = false;
    site.roles.forEach(function (r) { r.servers.forEach(function (s) { if (seen[s.href]) twice = true; seen[s.href] = true; }); });
    return twice;
  }

  /** One badge per state that some server is in: "2 up", "1 down", "1 unknown" (each server once). */
  function stateBadges(site) {
    var seen = {}, count = { up: 0, down: 0, unknown: 0 }, total = 0;
    site.roles.forEach(function (r) { r.servers.forEach(function (s) { if (seen[s.href]) return; seen[s.href] = true; total++; count[s.state]++; }); });
    if (count.up === total) return h('span', { class: 'badge ok', 'data-testid': 'states' }, total === 1 ? 'server up' : 'all ' + total + ' servers up');
    return h('span', { 'data-testid': 'states' }, [['down', 'bad'], ['unknown', 'info'], ['up', 'ok']].map(function (p) {
      return count[p[0]] ? h('span', { class: 'badge ' + p[1] }, count[p[0]] + ' of ' + total + ' ' + p[0]) : null;
    }));
  }

  function siteSection(site, now) {
    return h('section', { class: 'site', 'data-site': site.name },
      h('h2', null, site.name, stateBadges(site),
        site.writesPaused ? h('span', { class: 'badge bad' }, 'writes paused') : null,
        site.checks.on
          ? h('span', { class: 'badge info', 'data-testid': 'checks' },
            'checked every ' + (site.checks.intervalMs / 1000) + ' s: GET ' + site.checks.path + ' (up: ' + site.checks.expected + ')')
          : h('span', { class: 'badge warn', 'data-testid': 'checks' }, 'passive only: no active checks, health is learnt from requests'),
        site.writeToBackup ? h('span', { class: 'badge warn' }, 'writes may use backups') : null),
      h('h3', null, 'Upstreams'),
      h('table', { 'data-testid': 'servers' },
        h('thead', null, h('tr', null, h('th', null, 'role'), h('th', null, 'tier'), h('th', null, 'server'), h('th', null, 'health'),
          h('th', null, 'since'), h('th', null, 'known from'), h('th', null, 'last failure'), h('th', { class: 'num' }, 'downs'),
          h('th', { class: 'num' }, 'failed req.'), h('th', { class: 'num' }, 'in flight'))),
        h('tbody', null, serverRows(site, now))),
      shared(site) ? h('div', { class: 'muted small note' },
        'Health, failed requests and in-flight counts belong to the server: one listed under several roles shows the same figures in each.') : null,
      transfersBlock(site, now),
      requestsBlock(site.requests, 'minutes'));
  }

  /** Several worker processes ("workers"): the figures above are their sum; one row per process. */
  function workersSection(workers, now) {
    return h('section', { class: 'site', 'data-testid': 'workers' },
      h('h2', null, 'Workers', h('span', { class: 'badge info' }, workers.length + ' processes; figures below are their sum')),
      h('table', null,
        h('thead', null, h('tr', null, h('th', null, 'worker'), h('th', null, 'pid'), h('th', null, 'state'), h('th', null, 'process since'),
          h('th', { class: 'num' }, 'restarts'), h('th', null, 'last exit'), h('th', { class: 'num' }, 'in flight'), h('th', { class: 'num' }, 'requests'))),
        h('tbody', null, workers.map(function (w) {
          var exit = w.lastExit ? (w.lastExit.signal ? 'signal ' + w.lastExit.signal : 'code ' + w.lastExit.code) + ', ' + clock(w.lastExit.at) : '\u2014';
          return h('tr', { 'data-worker': w.id, class: w.state === 'up' ? 'up' : 'down' },
            h('td', null, h('b', null, String(w.id))), h('td', { class: 'mono' }, w.pid === null ? '\u2014' : String(w.pid)),
            h('td', null, h('span', { class: 'badge ' + (w.state === 'up' ? 'ok' : w.state === 'down' ? 'bad' : 'info') }, w.state),
              w.answered === false && w.state === 'up' ? h('div', { class: 'muted small' }, 'did not answer') : null),
            h('td', null, 'for ' + duration(now - Date.parse(w.startedAt))),
            h('td', { class: 'num' }, num(w.restarts)), h('td', { class: 'small' }, exit),
            h('td', { class: 'num' }, num(w.inFlight)), h('td', { class: 'num' }, num(w.requests)));
        }))));
  }

  function render(data) {
    var now = Date.parse(data.now);
    readyBadge.className = 'badge ' + (data.ready ? 'ok' : 'bad');
    readyBadge.textContent = data.ready ? 'ready' : 'not ready';
    updated.textContent = 'updated ' + clock(data.now) + ' \\u00b7 up ' + duration(data.uptimeMs);
    var parts = [];
    if (data.problems.length) parts.push(h('div', { class: 'problems', 'data-testid': 'problems' }, h('b', null, data.ready ? 'Degraded' : 'Not ready'),
      h('ul', null, data.problems.map(function (p) { return h('li', null, p); }))));
    if (data.workers) parts.push(workersSection(data.workers, now));
    data.sites.forEach(function (site) { parts.push(siteSection(site, now)); });
    if (data.unrouted) parts.push(h('section', { class: 'site', 'data-site': '' },
      h('h2', null, 'No site', h('span', { class: 'badge info' }, 'unknown Host, refused requests')), requestsBlock(data.unrouted, 'minutes')));
    parts.push(h('footer', null, 'Refreshes every ' + (POLL_MS / 1000) + ' s from ', h('a', { href: 'status.json' }, 'status.json'),
      ' \\u00b7 ', h('a', { href: 'metrics' }, 'metrics'), ' \\u00b7 ', h('a', { href: 'readyz' }, 'readyz')));
    main.replaceChildren.apply(main, parts);
    var downs = 0;
    data.sites.forEach(function (site) { site.roles.forEach(function (r) { r.servers.forEach(function (s) { if (s.state === 'down') downs++; }); }); });
    document.title = (downs ? '\\u2716 ' + downs + ' down \\u00b7 ' : '') + 'registry-router status';
    document.body.setAttribute('data-updated', data.now);
    last = data;
  }

  function disconnected(error) {
    var note = document.getElementById('conn');
    if (!note) { note = h('div', { id: 'conn', class: 'conn' }); main.insertBefore(note, main.firstChild); }
    note.textContent = 'Cannot reach status.json (' + (error && error.message ? error.message : String(error)) + ')' +
      (last ? '; showing the state of ' + clock(last.now) : '') + '. Retrying\\u2026';
    readyBadge.className = 'badge warn';
    readyBadge.textContent = 'no answer';
  }

  function poll() {
    fetch('status.json', { cache: 'no-store', headers: { accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(render, disconnected)
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
`;

export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>registry-router status</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>registry-router</h1><span id="ready" class="badge info">loading</span><span class="spacer"></span><span id="updated" class="meta"></span></header>
<main id="main"><noscript>This page needs JavaScript; the same data is at <a href="status.json">status.json</a>.</noscript></main>
<script>${SCRIPT}</script>
</body>
</html>
`;

/** The Content-Security-Policy for STATUS_PAGE: its own inline style and script (by hash), fetches to the same origin, nothing else. */
export async function statusPagePolicy(): Promise<string> {
  const [style, script] = await Promise.all([sha256Base64(STYLE), sha256Base64(SCRIPT)]);
  return [
    "default-src 'none'",
    `style-src 'sha256-${style}'`,
    `script-src 'sha256-${script}'`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

async function sha256Base64(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  let binary = '';
  for (const byte of digest) binary += String.fromCharCode(byte);
  return btoa(binary);
}
