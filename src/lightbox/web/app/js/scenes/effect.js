// The effect editor: a list of effects from the catalogue and, for the chosen one,
// controls generated from its metadata (speed, intensity, palette, colours, extra params).

import { chips, field, h, replace, select, slider, toggle } from "../dom.js";

const DEFAULT_COLORS = ["#ff0000", "#00ff00", "#0000ff"];

export function createEffectEditor(store) {
  const list = h("div");
  const description = h("p", { class: "muted small", id: "effect-description" });
  const controls = h("div", { class: "effect-controls" });
  const element = h("div", {}, list, description, controls);

  let catalog = null;
  let picker = null;
  let current = null; // the generated controls of the chosen effect

  function effect(name) {
    return catalog?.effects.find((e) => e.name === name) || null;
  }

  function buildList(selected) {
    picker = chips(
      "Effect",
      catalog.effects.map((e) => [e.name, e.title]),
      { value: selected, name: "effect", scroll: true, onchange: (name) => buildControls(effect(name), null) },
    );
    replace(list, picker.fieldset);
  }

  function buildControls(info, scene) {
    if (!info) {
      replace(controls);
      current = null;
      return;
    }
    description.textContent = info.description;
    const built = { info, params: {} };
    const parts = [];
    if (info.uses_speed) {
      built.speed = slider("Speed", { value: scene?.speed ?? 128, name: "speed" });
      parts.push(built.speed.wrapper);
    }
    if (info.uses_intensity) {
      built.intensity = slider("Intensity", { value: scene?.intensity ?? 128, name: "intensity" });
      parts.push(built.intensity.wrapper);
    }
    if (info.uses_palette) {
      const def = catalog.palettes.find((p) => p.name === info.default_palette);
      built.palette = select([["", `Default (${def?.title || info.default_palette})`], ...catalog.palettes.map((p) => [p.name, p.title])]);
      built.palette.value = scene?.palette || "";
      parts.push(field("Palette", built.palette, { name: "palette" }));
    }
    if (info.uses_colors > 0) {
      const colors = scene?.colors || [];
      built.custom = toggle("Custom colours", { checked: colors.length > 0 });
      built.colors = [];
      const row = h("div", { class: "row" });
      for (let i = 0; i < info.uses_colors; i += 1) {
        const input = h("input", { type: "color", value: colors[i] || DEFAULT_COLORS[i], "aria-label": `Colour ${i + 1}` });
        built.colors.push(input);
        row.append(input);
      }
      const box = h("div", { class: "field", dataset: { field: "colors" } }, built.custom.label, row, h("div", { class: "field-error" }));
      row.hidden = !built.custom.input.checked;
      built.custom.input.addEventListener("change", () => { row.hidden = !built.custom.input.checked; });
      parts.push(box);
    }
    for (const spec of info.params) {
      const value = scene?.params?.[spec.name] ?? spec.default;
      const label = titleCase(spec.name);
      if (spec.type === "bool") {
        const t = toggle(label, { checked: Boolean(value) });
        built.params[spec.name] = { read: () => t.input.checked };
        parts.push(h("div", { class: "field", dataset: { field: `params.${spec.name}` } }, t.label,
          h("div", { class: "hint" }, spec.description), h("div", { class: "field-error" })));
      } else if (spec.type === "choice") {
        const s = select((spec.choices || []).map((c) => [c, titleCase(c)]), { value });
        built.params[spec.name] = { read: () => s.value };
        parts.push(field(label, s, { hint: spec.description, name: `params.${spec.name}` }));
      } else {
        const isInt = spec.type === "int";
        const min = spec.minimum ?? 0;
        const max = spec.maximum ?? (isInt ? 255 : 1);
        const step = isInt ? 1 : Math.max((max - min) / 100, 0.001);
        const s = slider(label, { min, max, step, value, hint: spec.description, name: `params.${spec.name}`,
          format: (v) => (isInt ? String(v) : v.toFixed(2)) });
        built.params[spec.name] = { read: () => (isInt ? Math.round(Number(s.input.value)) : Number(s.input.value)) };
        parts.push(s.wrapper);
      }
    }
    replace(controls, parts);
    current = built;
  }

  return {
    element,
    setCatalog(value) {
      if (!value || value === catalog) return;
      catalog = value;
      const selected = picker?.value || catalog.effects[0]?.name;
      buildList(selected);
      buildControls(effect(selected), null);
    },
    load(scene) {
      if (!catalog || scene?.type !== "effect" || !effect(scene.effect)) return;
      picker.value = scene.effect;
      buildControls(effect(scene.effect), scene);
    },
    read() {
      if (!current) throw new Error("Choose an effect first.");
      const scene = { type: "effect", effect: current.info.name };
      if (current.speed) scene.speed = Number(current.speed.input.value);
      if (current.intensity) scene.intensity = Number(current.intensity.input.value);
      if (current.palette) scene.palette = current.palette.value || null;
      if (current.colors && current.custom.input.checked) scene.colors = current.colors.map((c) => c.value);
      const params = {};
      for (const [name, control] of Object.entries(current.params)) params[name] = control.read();
      if (Object.keys(params).length) scene.params = params;
      return scene;
    },
  };
}

function titleCase(name) {
  const text = String(name).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
