// Settings: the device's name, time zone, matrix geometry, output stage and driver
// (PUT /settings; the server's validation errors appear at their field), API tokens,
// and "forget this token" for this browser.

import { busy, field, h, replace, select, toast, toggle } from "../dom.js";
import { timezoneInput } from "../scenes/clock.js";
import { mountTokens } from "./tokens.js";

const CORNERS = [["top_left", "Top left"], ["top_right", "Top right"], ["bottom_left", "Bottom left"], ["bottom_right", "Bottom right"]];
const DRIVERS = [
  ["emulator", "Emulator (browser live view)"], ["null", "None (no output)"], ["terminal", "Terminal"],
  ["hub75", "HUB75 panels"], ["ws281x", "WS281x grid"], ["ddp", "DDP (e.g. WLED)"], ["e131", "E1.31 / sACN"],
];

/** A control bound to one settings path, e.g. "matrix.width". */
function bind(path, control, kind) {
  return { path, control, kind };
}

function getPath(obj, path) {
  return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function setPath(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (o[k] === null || typeof o[k] !== "object") o[k] = {};
    o = o[k];
  }
  o[keys.at(-1)] = value;
}

export function mountSettingsView(root, session) {
  const { store, api } = session;
  const bindings = [];
  const num = (path, label, attrs = {}, hint = null) => {
    const input = h("input", { type: "number", inputmode: "decimal", ...attrs });
    bindings.push(bind(path, input, attrs.optional ? "optional-number" : "number"));
    return field(label, input, { name: path, hint });
  };
  const text = (path, label, input = h("input", { type: "text" }), hint = null) => {
    bindings.push(bind(path, input, "text"));
    return field(label, input, { name: path, hint });
  };
  const choice = (path, label, options, numeric = false) => {
    const s = select(options);
    bindings.push(bind(path, s, numeric ? "select-number" : "select"));
    return field(label, s, { name: path });
  };
  const flag = (path, label) => {
    const t = toggle(label);
    bindings.push(bind(path, t.input, "bool"));
    return h("div", { class: "field", dataset: { field: path } }, t.label, h("div", { class: "field-error" }));
  };

  const driverSelect = select(DRIVERS);
  const driverHost = h("input", { type: "text", placeholder: "192.168.1.50", autocomplete: "off" });
  const driverHostField = field("Target host", driverHost, { name: "driver.host" });
  const driverFields = h("div", {}, field("Driver", driverSelect, { name: "driver" }), driverHostField);
  const syncDriver = () => { driverHostField.hidden = !["ddp", "e131"].includes(driverSelect.value); };
  driverSelect.addEventListener("change", syncDriver);

  const lat = h("input", { type: "number", step: "any", min: -90, max: 90, inputmode: "decimal" });
  const lon = h("input", { type: "number", step: "any", min: -180, max: 180, inputmode: "decimal" });

  const save = h("button", { type: "submit", class: "btn primary" }, "Save settings");
  const form = h("form", { novalidate: true, id: "settings-form", "aria-labelledby": "settings-title" },
    h("div", { class: "card" },
      h("h3", {}, "Device"),
      text("name", "Name", h("input", { type: "text", maxlength: 64, autocomplete: "off" })),
      text("timezone", "Time zone", timezoneInput("timezone", "UTC")),
      h("div", { class: "grid-2" },
        field("Latitude", lat, { name: "location.latitude" }),
        field("Longitude", lon, { name: "location.longitude", hint: "For sunrise and sunset schedules." }))),
    h("div", { class: "card" },
      h("h3", {}, "Matrix"),
      h("div", { class: "field", dataset: { field: "matrix" } }, h("div", { class: "field-error" })),
      h("div", { class: "grid-2" },
        num("matrix.width", "Width (pixels)", { min: 1, max: 1024, step: 1 }),
        num("matrix.height", "Height (pixels)", { min: 1, max: 1024, step: 1 })),
      h("div", { class: "grid-2" },
        num("matrix.panel_width", "Panel width", { min: 1, max: 1024, step: 1, optional: true, placeholder: "whole" }),
        num("matrix.panel_height", "Panel height", { min: 1, max: 1024, step: 1, optional: true, placeholder: "whole" })),
      h("div", { class: "grid-2" },
        choice("matrix.rotation", "Rotation", [["0", "0°"], ["90", "90°"], ["180", "180°"], ["270", "270°"]], true),
        choice("matrix.chain_order", "Panels chained by", [["rows", "Rows"], ["columns", "Columns"]])),
      flag("matrix.flip_x", "Flip horizontally"),
      flag("matrix.flip_y", "Flip vertically"),
      choice("matrix.chain_start", "First panel at", CORNERS),
      flag("matrix.chain_serpentine", "Panel rows zig-zag (serpentine chain)"),
      flag("matrix.serpentine", "LED strips zig-zag inside a panel (WS281x)"),
      choice("matrix.strip_start", "First LED of a panel at", CORNERS)),
    h("div", { class: "card" },
      h("h3", {}, "Output"),
      h("div", { class: "grid-2" },
        choice("output.color_order", "Colour order", ["RGB", "RBG", "GRB", "GBR", "BRG", "BGR"].map((c) => [c, c])),
        num("output.gamma", "Gamma", { min: 1, max: 3, step: 0.1 }, "1.0 turns correction off.")),
      h("div", { class: "grid-2" },
        num("output.max_brightness", "Max brightness", { min: 1, max: 255, step: 1 }, "Cap, 1–255."),
        num("output.fps", "Frames per second", { min: 1, max: 240, step: 1 })),
      num("output.power.budget_ma", "Power budget (mA)", { min: 0, max: 1000000, step: 50 }, "0 turns the power limiter off."),
      driverFields),
    h("div", { class: "form-error error", role: "alert" }),
    h("div", { class: "row end" }, save));

  function fill(settings) {
    if (!settings) return;
    for (const b of bindings) {
      const value = getPath(settings, b.path);
      if (b.kind === "bool") b.control.checked = Boolean(value);
      else b.control.value = value === null || value === undefined ? "" : String(value);
    }
    lat.value = settings.location?.latitude ?? "";
    lon.value = settings.location?.longitude ?? "";
    driverSelect.value = settings.driver?.name || "emulator";
    driverHost.value = settings.driver?.host || "";
    syncDriver();
  }

  function read() {
    const settings = structuredClone(store.get("settings") || {});
    for (const b of bindings) {
      const raw = b.control.value;
      let value;
      if (b.kind === "bool") value = b.control.checked;
      else if (b.kind === "number") value = raw === "" ? null : Number(raw);
      else if (b.kind === "optional-number") value = raw === "" ? null : Number(raw);
      else if (b.kind === "select-number") value = Number(raw);
      else value = raw;
      setPath(settings, b.path, value);
    }
    settings.location = lat.value === "" && lon.value === ""
      ? null
      : { latitude: lat.value === "" ? null : Number(lat.value), longitude: lon.value === "" ? null : Number(lon.value) };
    if (settings.driver?.name !== driverSelect.value) settings.driver = { name: driverSelect.value };
    if (["ddp", "e131"].includes(driverSelect.value)) settings.driver.host = driverHost.value.trim() || null;
    return settings;
  }

  let editing = false;
  form.addEventListener("input", () => { editing = true; });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(save, async () => {
      const saved = await api.put("/settings", read());
      editing = false;
      toast("Settings saved");
      store.set("settings", saved && saved.matrix ? saved : await api.get("/settings"));
      store.load("info");
    }, form);
  });
  // Another browser saved: show it, unless this one is being edited.
  store.on("settings", (s) => { if (!editing) fill(s); });

  // -- about, tokens, this browser ----------------------------------------------------
  const about = h("dl", { class: "small", id: "about" });
  store.on("info", (info) => {
    if (!info) return;
    replace(about, [["Device id", info.id], ["Version", info.version], ["Matrix", `${info.width}×${info.height}`],
      ["Driver", info.driver], ["Frame rate", `${Number(info.fps).toFixed(1)} / ${info.target_fps} fps`],
      ["MQTT", info.mqtt_connected ? "connected" : "not connected"]]
      .map(([k, v]) => h("div", { class: "row spread" }, h("dt", { class: "muted" }, k), h("dd", { class: "mono" }, v))));
  });
  const forget = h("button", { type: "button", class: "btn danger", id: "forget-token" }, "Forget token on this device");
  forget.addEventListener("click", () => session.signOut("This browser no longer has a token. Enter one to continue."));

  const tokens = mountTokens(session);

  replace(root,
    h("h2", { id: "settings-title" }, "Settings"),
    form,
    tokens,
    h("div", { class: "card" }, h("h3", {}, "About this LightBox"), about),
    h("div", { class: "card" }, h("h3", {}, "This browser"),
      h("p", { class: "muted small" }, "The API token is kept in this browser only."), forget));
  return { show() { store.load("settings"); store.load("tokens"); }, hide() {} };
}
