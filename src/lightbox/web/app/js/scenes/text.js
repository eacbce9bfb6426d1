// The text editor: static or scrolling text in a pixel font.

import { chips, field, fillSelect, h, select, slider, toggle } from "../dom.js";

export function createTextEditor() {
  const text = h("textarea", { name: "text", maxlength: 1024, rows: 2, placeholder: "Hello!" });
  text.value = "Hello!";
  const font = select([["6x10", "6x10"]], { name: "font" });
  const size = h("input", { type: "number", min: 6, max: 128, step: 1, name: "size", inputmode: "numeric", placeholder: "e.g. 12" });
  const sizeField = field("Size (px, scalable font only)", size, { name: "size" });
  const color = h("input", { type: "color", value: "#ffffff" });
  const bgColor = h("input", { type: "color", value: "#000000", "aria-label": "Background colour" });
  const transparent = toggle("Transparent background", { checked: true });
  const mode = chips("Mode", [["scroll", "Scroll"], ["static", "Static"]], { value: "scroll", name: "text-mode" });
  const speed = slider("Scroll speed (pixels/s)", { min: 1, max: 200, value: 20, name: "speed" });
  const direction = select([["left", "Left"], ["right", "Right"], ["up", "Up"], ["down", "Down"]], { value: "left" });
  const directionField = field("Direction", direction, { name: "direction" });
  const align = select([["center", "Centre"], ["left", "Left"], ["right", "Right"]], { value: "center" });
  const alignField = field("Alignment", align, { name: "align" });

  const colors = h("div", { class: "grid-2" },
    h("div", { class: "field", dataset: { field: "color" } }, h("label", { for: (color.id = "text-color") }, "Colour"), color, h("div", { class: "field-error" })),
    h("div", { class: "field", dataset: { field: "background" } }, h("span", { class: "label" }, "Background"), h("div", { class: "row" }, bgColor), h("div", { class: "field-error" })),
  );
  const element = h("div", {},
    field("Text", text, { name: "text" }),
    h("div", { class: "grid-2" }, field("Font", font, { name: "font" }), sizeField),
    colors,
    transparent.label,
    mode.fieldset,
    speed.wrapper,
    directionField,
    alignField,
  );

  function sync() {
    const scrolling = mode.value === "scroll";
    speed.wrapper.hidden = !scrolling;
    directionField.hidden = !scrolling;
    alignField.hidden = scrolling;
    sizeField.hidden = font.value !== "scalable";
    bgColor.disabled = transparent.input.checked;
  }
  for (const el of [font, transparent.input, ...mode.fieldset.querySelectorAll("input")]) el.addEventListener("change", sync);
  sync();

  return {
    element,
    setCatalog(catalog) {
      if (catalog?.fonts) fillSelect(font, catalog.fonts.map((f) => [f, f === "scalable" ? "Scalable (smooth)" : f]), font.value || "6x10");
      sync();
    },
    load(scene) {
      if (scene?.type !== "text") return;
      text.value = scene.text;
      font.value = scene.font;
      size.value = scene.size ?? "";
      color.value = scene.color;
      transparent.input.checked = scene.background === null || scene.background === undefined;
      if (scene.background) bgColor.value = scene.background;
      mode.value = scene.mode;
      speed.set(scene.speed);
      direction.value = scene.direction;
      align.value = scene.align;
      sync();
    },
    read() {
      const scene = {
        type: "text",
        text: text.value,
        font: font.value,
        color: color.value,
        background: transparent.input.checked ? null : bgColor.value,
        mode: mode.value,
      };
      if (font.value === "scalable" && size.value !== "") scene.size = Number(size.value);
      if (scene.mode === "scroll") {
        scene.speed = Number(speed.input.value);
        scene.direction = direction.value;
      } else {
        scene.align = align.value;
      }
      return scene;
    },
  };
}
