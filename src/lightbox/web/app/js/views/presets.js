// Presets: save what is showing now under a name, apply one, delete one.

import { busy, confirmDialog, field, h, replace, slugify, toast, toggle } from "../dom.js";
import { describeScene } from "../scenes/describe.js";

export function mountPresetsView(root, { store, api }) {
  const name = h("input", { type: "text", name: "name", maxlength: 64, autocomplete: "off", placeholder: "Evening glow" });
  const withBrightness = toggle("Include the current brightness", { checked: false });
  const save = h("button", { type: "submit", class: "btn primary" }, "Save preset");
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "preset-save-title" },
    h("h3", { id: "preset-save-title" }, "Save the current scene"),
    h("p", { class: "muted small", id: "preset-current" }),
    field("Name", name, { name: "name" }),
    withBrightness.label,
    h("div", { class: "form-error error", role: "alert" }),
    h("div", { class: "row end" }, save));
  const list = h("ul", { class: "list", id: "preset-list", "aria-label": "Presets" });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(save, async () => {
      const state = store.get("state");
      const presets = store.get("presets") || [];
      const label = name.value.trim();
      if (!label) throw Object.assign(new Error("Give the preset a name."), { field: "name" });
      const preset = { id: slugify(label, presets.map((p) => p.id)), name: label, scene: state.scene };
      if (withBrightness.input.checked) preset.brightness = state.brightness;
      await api.post("/presets", preset);
      name.value = "";
      toast(`Saved preset “${label}”`);
      await store.load("presets");
    }, form);
  });

  function render() {
    const presets = store.get("presets") || [];
    const state = store.get("state");
    const catalog = store.get("catalog");
    form.querySelector("#preset-current").textContent = state ? `Now showing: ${describeScene(state.scene, catalog)}` : "";
    if (!presets.length) {
      replace(list, h("li", { class: "empty" }, "No presets yet."));
      return;
    }
    replace(list, presets.map((p) => {
      const apply = h("button", { type: "button", class: "btn primary", "aria-label": `Apply ${p.name}` }, "Apply");
      apply.addEventListener("click", () => busy(apply, () => api.post(`/presets/${encodeURIComponent(p.id)}/apply`)));
      const del = h("button", { type: "button", class: "btn danger", "aria-label": `Delete ${p.name}` }, "Delete");
      del.addEventListener("click", async () => {
        if (!(await confirmDialog(`Delete preset “${p.name}”?`))) return;
        await busy(del, async () => {
          await api.delete(`/presets/${encodeURIComponent(p.id)}`);
          await store.load("presets");
        });
      });
      const active = state?.preset === p.id;
      return h("li", { class: active ? "active" : "", dataset: { id: p.id } },
        h("div", { class: "grow" }, h("div", { class: "title" }, p.name),
          h("div", { class: "small muted" }, describeScene(p.scene, catalog),
            p.brightness !== null && p.brightness !== undefined ? ` · brightness ${Math.round((p.brightness / 255) * 100)}%` : "")),
        apply, del);
    }));
  }
  store.on("presets", render);
  store.on("state", render);
  store.on("catalog", render);

  replace(root,
    h("h2", { id: "presets-title" }, "Presets"),
    form,
    h("div", { class: "card" }, h("h3", {}, "Saved presets"), list));
  return { show() {}, hide() {} };
}
