// The dashboard's fleet parts: the fleet summary (device list), releases and rollouts
// (admins only), and on a device page its synced state, telemetry charts (inline SVG,
// drawn here: no chart library) and update status.

import { busy, h, replace, toast } from "/app/js/dom.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const VOLTS = 5;

/** Time ranges of the telemetry picker: span and bucket (seconds). */
export const RANGES = [
  { key: "1h", label: "1 h", span: 3600, bucket: 60 },
  { key: "24h", label: "24 h", span: 86400, bucket: 600 },
  { key: "7d", label: "7 d", span: 7 * 86400, bucket: 3600 },
];

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "never";
}

function fmt(value, digits = 1) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

function quiet(err) {
  if (err.status !== 401) toast(err.detail || err.message, { error: true });
}

// -- fleet summary ------------------------------------------------------------------------

/** The fleet summary card; `refresh()` reloads it from GET /fleet/summary. */
export function fleetSummary(cloud) {
  const body = h("dl", { class: "stats", id: "fleet-stats" });
  const card = h("section", { class: "card", id: "fleet-summary", "aria-labelledby": "fleet-title" },
    h("h2", { id: "fleet-title" }, "Fleet"), body);

  function stat(name, value, id) {
    return h("div", {}, h("dt", {}, name), h("dd", { id }, value));
  }

  async function refresh() {
    let s;
    try { s = await cloud.fleetSummary(); } catch (err) { quiet(err); return; }
    const versions = Object.entries(s.versions || {}).sort((a, b) => b[1] - a[1])
      .map(([v, n]) => `${v} × ${n}`).join(", ") || "–";
    const watts = s.total_estimated_w ?? (s.total_estimated_ma ?? 0) * VOLTS / 1000;
    replace(body,
      stat("Online", `${s.online} of ${s.devices}`, "fleet-online"),
      stat("Versions", versions, "fleet-versions"),
      stat("Average fps", s.reporting ? fmt(s.avg_fps) : "–", "fleet-fps"),
      stat("Estimated power", s.reporting ? `${fmt(watts)} W` : "–", "fleet-power"),
      stat("Synced", `${s.synced ?? 0} · last ${when(s.last_sync_at)}`, "fleet-synced"));
    card.dataset.online = String(s.online);
  }
  return { card, refresh };
}

// -- releases and rollouts (admins) ---------------------------------------------------------

function table(caption, head, rows, attrs = {}) {
  return h("table", { class: "table", ...attrs },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows));
}

/**
 * The releases and rollouts section, or null when the user is not an admin (the API
 * answers 403: the section is never shown).
 */
export async function releasesSection(cloud) {
  try {
    await cloud.releases();
  } catch (err) {
    if (err.status === 403 || err.status === 401) return null;
    throw err;
  }
  const releasesBox = h("div", { id: "releases" });
  const rolloutsBox = h("div", { id: "rollouts" });
  const section = h("section", { class: "card", id: "admin-releases", "aria-labelledby": "releases-title" },
    h("h2", { id: "releases-title" }, "Releases and rollouts"), releasesBox, rolloutsBox);

  function rolloutRow(r) {
    const counts = Object.entries(r.counts || {}).map(([k, n]) => `${k} ${n}`).join(", ") || "no reports yet";
    const actions = [];
    const act = (action, label, enabled) => {
      const button = h("button", { type: "button", class: "btn", "data-action": action, disabled: !enabled }, label);
      button.addEventListener("click", () => busy(button, async () => {
        const updated = await cloud.rolloutAction(r.id, action);
        toast(`Rollout of ${updated.version}: ${updated.state}, ${updated.percentage} %`);
        await refresh();
      }));
      actions.push(button);
    };
    act("widen", "Widen", r.state === "active");
    act("pause", "Pause", r.state === "active" || r.state === "completed");
    act("resume", "Resume", r.state === "paused" || r.state === "halted");
    const target = r.group ? `group ${r.group}` : `channel ${r.channel ?? "–"}`;
    return h("tr", { "data-rollout": r.id, "data-state": r.state, "data-percentage": String(r.percentage) },
      h("td", {}, r.version, h("br"), h("span", { class: "muted" }, target)),
      h("td", {},
        h("progress", { max: 100, value: r.percentage, "aria-label": `${r.percentage} percent` }),
        " ", h("span", { class: "rollout-pct" }, `${r.percentage} %`),
        h("br"), h("span", { class: "muted" }, `steps ${r.steps.join(" → ")}`)),
      h("td", {}, h("span", { class: "rollout-state" }, r.state),
        r.halted_reason ? [h("br"), h("span", { class: "error rollout-halted" }, r.halted_reason)] : null),
      h("td", { class: "rollout-counts" }, counts),
      h("td", { class: "row" }, actions));
  }

  async function refresh() {
    let releases, rollouts;
    try {
      [releases, rollouts] = await Promise.all([cloud.releases(), cloud.rollouts()]);
      // the list has no per-state counts: one GET per rollout has them
      rollouts = await Promise.all(rollouts.map((r) => cloud.rollout(r.id)));
    } catch (err) { quiet(err); return; }
    replace(releasesBox, releases.length
      ? table("Releases", ["Version", "Channel", "Size", "Created"], releases.map((r) =>
        h("tr", { "data-release": r.id },
          h("td", {}, r.version, r.yanked ? " (yanked)" : ""), h("td", {}, r.channel),
          h("td", {}, bytes(r.size)), h("td", {}, when(r.created_at)))))
      : h("p", { class: "muted" }, "No releases yet: publish one with `lightbox release publish`."));
    replace(rolloutsBox, rollouts.length
      ? table("Rollouts", ["Release", "Progress", "State", "Devices", ""], rollouts.map(rolloutRow))
      : h("p", { class: "muted" }, "No rollouts."));
  }
  await refresh();
  return { section, refresh };
}

// -- a device: synced state, telemetry, update status -------------------------------------------

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Per-bucket increase of a counter (counters restart at 0 when the LightBox restarts). */
export function increases(points, name) {
  const out = [];
  let prev = null;
  for (const p of points) {
    const v = p.fields?.[name];
    if (v === undefined || v === null) continue;
    if (prev !== null) out.push({ at: p.at, value: v >= prev ? v - prev : v });
    prev = v;
  }
  return out;
}

/** A line chart as inline SVG: `series` is [{at, value}], x from `since` to `until`. */
export function lineChart({ metric, title, unit, series, since, until }) {
  const W = 400, H = 160, L = 34, R = 6, T = 10, B = 20;
  const t0 = Date.parse(since), t1 = Date.parse(until);
  const max = Math.max(1e-9, ...series.map((p) => p.value));
  const top = max <= 0 ? 1 : niceMax(max);
  const x = (at) => L + ((Date.parse(at) - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / top) * (H - T - B);
  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "data-metric": metric,
    "data-points": String(series.length), "aria-label": `${title} over time, ${series.length} points`,
  });
  chart.append(
    svg("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), class: "axis" }),
    svg("line", { x1: L, y1: y(top), x2: W - R, y2: y(top), class: "grid" }),
    svg("text", { x: L - 4, y: y(top) + 4, "text-anchor": "end", class: "tick" }, fmtTick(top)),
    svg("text", { x: L - 4, y: y(0) + 4, "text-anchor": "end", class: "tick" }, "0"),
    svg("text", { x: L, y: H - 5, class: "tick" }, shortTime(t0, t1 - t0)),
    svg("text", { x: W - R, y: H - 5, "text-anchor": "end", class: "tick" }, shortTime(t1, t1 - t0)));
  if (series.length > 1) {
    chart.append(svg("polyline", {
      class: "line", fill: "none",
      points: series.map((p) => `${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(" "),
    }));
  }
  for (const p of series) {
    chart.append(svg("circle", { cx: x(p.at).toFixed(1), cy: y(p.value).toFixed(1), r: 2.5, class: "dot" },
      svg("title", {}, `${new Date(p.at).toLocaleString()}: ${fmtTick(p.value)} ${unit}`)));
  }
  const last = series.length ? series[series.length - 1].value : null;
  return h("figure", { class: "chart-box" },
    h("figcaption", {}, h("strong", {}, title), " ",
      h("span", { class: "muted" }, last === null ? "no data in this range" : `latest ${fmtTick(last)} ${unit}`)),
    chart);
}

function shortTime(ms, spanMs) {
  const d = new Date(ms);
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return spanMs > 86400_000 ? `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}` : time;
}

function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtTick(v) {
  return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
}

function summaryOfState(view) {
  const s = view?.state;
  if (!s) return "nothing synced yet";
  const scene = s.scene?.type ?? "–";
  return `power ${s.power ? "on" : "off"}, brightness ${s.brightness}, scene ${scene}`
    + (s.preset ? `, preset ${s.preset}` : "");
}

/** The device page's extra cards: sync, telemetry, update status. */
export function deviceInsights(cloud, deviceId) {
  const syncBody = h("div", { id: "sync-info" }, h("p", { class: "muted" }, "Loading…"));
  const syncCard = h("section", { class: "card", id: "device-sync", "aria-labelledby": "sync-title" },
    h("h2", { id: "sync-title" }, "Synced state"), syncBody);

  let range = RANGES[0];
  const charts = h("div", { id: "telemetry-charts", class: "charts" });
  const picker = h("div", { class: "row", role: "group", "aria-label": "Time range", id: "telemetry-range" },
    RANGES.map((r) => {
      const b = h("button", { type: "button", class: "btn", "data-range": r.key, "aria-pressed": String(r === range) }, r.label);
      b.addEventListener("click", () => {
        range = r;
        for (const other of picker.querySelectorAll("button")) other.setAttribute("aria-pressed", String(other === b));
        loadTelemetry();
      });
      return b;
    }));
  const telemetryCard = h("section", { class: "card", id: "device-telemetry", "aria-labelledby": "telemetry-title" },
    h("h2", { id: "telemetry-title" }, "Telemetry"), picker, charts);

  const updateBody = h("div", { id: "update-info" }, h("p", { class: "muted" }, "Loading…"));
  const updateCard = h("section", { class: "card", id: "device-update", "aria-labelledby": "update-title" },
    h("h2", { id: "update-title" }, "Software updates"), updateBody);

  async function loadSync() {
    let s;
    try { s = await cloud.synced(deviceId); } catch (err) {
      if (err.status === 404) { replace(syncBody, h("p", { class: "muted" }, "Not synced yet.")); return; }
      quiet(err); return;
    }
    const counts = ["presets", "playlists", "schedules"]
      .map((k) => `${Object.keys(s.view?.[k] || {}).length} ${k}`).join(", ");
    replace(syncBody,
      h("p", {}, "Last synced ", h("time", { id: "last-synced", datetime: s.last_sync_at || "", "data-synced": String(Boolean(s.last_sync_at)) }, when(s.last_sync_at))),
      h("p", { id: "synced-state" }, summaryOfState(s.view), h("br"), h("span", { class: "muted" }, counts)),
      s.pending ? h("p", { class: "muted", id: "sync-pending" }, "Changes made in the cloud are waiting for the device.") : null,
      s.last_error ? h("p", { class: "error", id: "sync-error" }, s.last_error) : null,
      h("details", {}, h("summary", {}, "Merged state (JSON)"),
        h("pre", { class: "json" }, JSON.stringify(s.view, null, 2))));
  }

  async function loadTelemetry() {
    const chosen = range;
    const until = new Date();
    const since = new Date(until.getTime() - chosen.span * 1000);
    let t;
    try {
      t = await cloud.telemetry(deviceId, { since: since.toISOString(), until: until.toISOString(), bucket: chosen.bucket });
    } catch (err) { quiet(err); return; }
    if (chosen !== range) return; // another range was picked meanwhile
    const points = t.points || [];
    const gauge = (name, scale = 1) => points
      .filter((p) => p.fields?.[name] !== undefined && p.fields?.[name] !== null)
      .map((p) => ({ at: p.at, value: p.fields[name] * scale }));
    const common = { since: t.since, until: t.until };
    charts.dataset.range = chosen.key;
    charts.dataset.points = String(points.length);
    replace(charts,
      lineChart({ ...common, metric: "fps", title: "Frames per second", unit: "fps", series: gauge("fps") }),
      lineChart({ ...common, metric: "dropped_frames", title: "Dropped frames", unit: "per bucket", series: increases(points, "dropped_frames") }),
      lineChart({ ...common, metric: "power", title: "Estimated power", unit: "W", series: gauge("estimated_ma", VOLTS / 1000) }),
      lineChart({ ...common, metric: "commands", title: "Commands", unit: "per bucket", series: increases(points, "commands") }),
      lineChart({ ...common, metric: "errors", title: "Errors", unit: "per bucket", series: increases(points, "errors") }));
  }

  async function loadUpdates() {
    let u;
    try { u = await cloud.updateStatus(deviceId); } catch (err) {
      if (err.status === 404) { replace(updateBody, h("p", { class: "muted" }, "No update information.")); return; }
      quiet(err); return;
    }
    replace(updateBody,
      h("p", {}, "Running ", h("strong", { id: "update-version" }, u.version)),
      u.updates.length
        ? table("Updates", ["Release", "State", "Attempts", "Last error", "Updated"], u.updates.map((x) =>
          h("tr", { "data-update": x.version, "data-state": x.state },
            h("td", {}, x.version), h("td", {}, x.state), h("td", {}, String(x.attempts)),
            h("td", {}, x.last_error || "–"), h("td", {}, when(x.updated_at)))), { id: "update-list" })
        : h("p", { class: "muted", id: "update-none" }, "No update offered to this device yet."));
  }

  return {
    cards: [syncCard, telemetryCard, updateCard],
    loadSync,
    loadTelemetry,
    loadUpdates,
    loadAll: () => Promise.all([loadSync(), loadTelemetry(), loadUpdates()]),
  };
}
