// The main view: live preview, power, brightness and the scene picker.
//
// Power, brightness and "now showing" are drawn from the state the LightBox pushes, never
// from what was clicked, so every open browser shows the same thing.

import { busy, h, replace, slider, toast } from "../dom.js";
import { MatrixPreview } from "../preview.js";
import { LatestValueSender } from "../sender.js";
import { createClockEditor, createSolidEditor } from "../scenes/clock.js";
import { describeScene } from "../scenes/describe.js";
import { createEffectEditor } from "../scenes/effect.js";
import { createMediaEditor } from "../scenes/media.js";
import { createTextEditor } from "../scenes/text.js";

const POWER_ICON = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 3v9"/><path d="M6.3 6.8a8 8 0 1 0 11.4 0"/></svg>';

const TABS = [
  { id: "effect", title: "Effects", apply: "Show this effect", types: ["effect"], make: (s) => createEffectEditor(s.store) },
  { id: "text", title: "Text", apply: "Show this text", types: ["text"], make: () => createTextEditor() },
  { id: "media", title: "Image/GIF", apply: "Show this image", types: ["image", "gif"], make: (s) => createMediaEditor(s.store, s.api) },
  { id: "clock", title: "Clock", apply: "Show the clock", types: ["clock"], make: () => createClockEditor() },
  { id: "solid", title: "Solid colour", apply: "Show this colour", types: ["solid"], make: () => createSolidEditor() },
];

const percent = (v) => `${Math.round((v / 255) * 100)}%`;

export function mountControlView(root, session) {
  const { store, api, live } = session;

  // -- preview -----------------------------------------------------------------------
  const canvas = h("canvas", { id: "preview", role: "img", "aria-label": "Live preview of the LED matrix", width: 64, height: 32 });
  const note = h("span", { class: "preview-note", hidden: true });
  const previewBox = h("div", { class: "preview" }, canvas, note);
  const preview = new MatrixPreview(canvas, previewBox);
  live.addEventListener("frame", (e) => {
    note.hidden = true;
    preview.draw(e.detail.width, e.detail.height, e.detail.rgb);
  });
  store.on("info", (info) => { if (info) preview.layout(info.width, info.height); });
  store.on("settings", (s) => { if (s?.matrix) preview.layout(s.matrix.width, s.matrix.height); });

  // -- power and brightness -------------------------------------------------------------
  const power = h("button", { type: "button", class: "power", id: "power", "aria-pressed": "false", "aria-label": "Power" });
  power.innerHTML = POWER_ICON;
  power.addEventListener("click", () => busy(power, async () => {
    const on = store.get("state")?.power;
    await api.patchState({ power: !on });
  }));
  const powerText = h("div", { class: "now", id: "power-text" });

  const brightness = slider("Brightness", { min: 0, max: 255, value: 128, format: percent });
  brightness.input.id = "brightness";
  brightness.wrapper.querySelector("label").setAttribute("for", "brightness");
  let dragging = false;
  const sender = new LatestValueSender((value) => api.patchState({ brightness: value }), {
    intervalMs: 100,
    onError: (err) => toast(err.detail || err.message, { error: true }),
  });
  brightness.input.addEventListener("pointerdown", () => { dragging = true; });
  brightness.input.addEventListener("input", () => {
    brightness.input.setAttribute("aria-valuetext", percent(Number(brightness.input.value)));
    sender.push(Number(brightness.input.value));
  });
  brightness.input.addEventListener("change", async () => {
    sender.push(Number(brightness.input.value)); // the final value is always sent
    await sender.idle();
    dragging = false;
    showState(store.get("state"));
  });
  const now = h("p", { class: "now", id: "now-showing", "aria-live": "polite" });

  // -- scene picker ---------------------------------------------------------------------
  const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "Scene type" });
  const panels = h("div");
  const editors = {};
  for (const tab of TABS) {
    const editor = tab.make(session);
    editors[tab.id] = editor;
    const button = h("button", { type: "button", role: "tab", id: `tab-${tab.id}`, "aria-controls": `panel-${tab.id}`, "aria-selected": "false", tabindex: "-1" }, tab.title);
    button.addEventListener("click", () => selectTab(tab.id, true));
    button.addEventListener("keydown", (e) => {
      const i = TABS.indexOf(tab);
      const next = e.key === "ArrowRight" ? TABS[(i + 1) % TABS.length] : e.key === "ArrowLeft" ? TABS[(i - 1 + TABS.length) % TABS.length] : null;
      if (next) { e.preventDefault(); selectTab(next.id, true); document.getElementById(`tab-${next.id}`).focus(); }
    });
    tablist.append(button);
    const apply = h("button", { type: "submit", class: "btn primary block" }, tab.apply);
    const form = h("form", { class: "scene-form", novalidate: true }, editor.element, h("div", { class: "form-error error", role: "alert" }), apply);
    // Edits in progress are not overwritten by a scene pushed meanwhile (a playlist...).
    form.addEventListener("input", () => { editor.dirty = true; });
    form.addEventListener("change", () => { editor.dirty = true; });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(apply, async () => {
        const scene = editor.read();
        await api.command({ type: "set", scene });
        editor.dirty = false;
      }, form);
    });
    panels.append(h("div", { role: "tabpanel", id: `panel-${tab.id}`, "aria-labelledby": `tab-${tab.id}`, hidden: true, tabindex: "0" }, form));
  }

  function selectTab(id, focusPanel = false) {
    for (const tab of TABS) {
      const selected = tab.id === id;
      const button = tablist.querySelector(`#tab-${tab.id}`);
      button.setAttribute("aria-selected", String(selected));
      button.tabIndex = selected ? 0 : -1;
      panels.querySelector(`#panel-${tab.id}`).hidden = !selected;
    }
    if (focusPanel) { /* keep focus on the tab; the panel follows in reading order */ }
  }

  store.on("catalog", (catalog) => {
    for (const editor of Object.values(editors)) editor.setCatalog(catalog);
    const scene = store.get("state")?.scene;
    if (scene) loadEditor(scene);
  });

  let shownScene = null;
  function loadEditor(scene) {
    const tab = TABS.find((t) => t.types.includes(scene.type));
    if (tab && !editors[tab.id].dirty) editors[tab.id].load(scene);
  }

  function showState(state) {
    if (!state) return;
    power.setAttribute("aria-pressed", String(state.power));
    power.title = state.power ? "Turn off" : "Turn on";
    powerText.textContent = state.power ? "Power: on" : "Power: off";
    if (!dragging && !sender.busy) brightness.set(state.brightness);
    const catalog = store.get("catalog");
    const preset = state.preset ? (store.get("presets") || []).find((p) => p.id === state.preset) : null;
    replace(now, "Now showing: ", h("strong", {}, describeScene(state.scene, catalog)),
      preset ? ` (preset “${preset.name}”)` : "",
      state.playlist ? ` · playlist “${state.playlist.playlist}”` : "");
    // Follow the scene into its editor when it changed (another browser, a playlist...).
    const key = JSON.stringify(state.scene);
    if (key !== shownScene) {
      shownScene = key;
      loadEditor(state.scene);
    }
  }
  store.on("state", showState);
  store.on("presets", () => showState(store.get("state")));
  store.on("catalog", () => showState(store.get("state")));

  const initial = TABS.find((t) => t.types.includes(store.get("state")?.scene?.type)) || TABS[0];
  selectTab(initial.id);

  replace(root,
    h("h2", { id: "control-title", class: "visually-hidden" }, "Control"),
    h("div", { class: "control-layout" },
      h("div", { class: "sticky" },
        previewBox,
        h("div", { class: "card" },
          h("div", { class: "row" }, power, h("div", { class: "grow" }, brightness.wrapper)),
          powerText,
          now)),
      h("div", { class: "card" }, h("h2", {}, "Scene"), tablist, panels)));

  return {
    show() { live.setPreview(true, 15); },
    hide() { live.setPreview(false); },
  };
}
