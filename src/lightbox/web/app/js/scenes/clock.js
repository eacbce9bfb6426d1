// The clock editor (digital clock; the analogue face is the clock_face effect) and the
// solid-colour editor.

import { chips, field, fillSelect, h, select, toggle } from "../dom.js";

export function timezoneList() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return ["UTC"];
  }
}

/** A text input with the browser's time-zone names as suggestions. */
export function timezoneInput(name, placeholder = "Europe/Berlin") {
  const listId = "timezones";
  if (!document.getElementById(listId)) {
    document.body.append(h("datalist", { id: listId }, timezoneList().map((tz) => h("option", { value: tz }))));
  }
  return h("input", { type: "text", name, list: listId, placeholder, autocomplete: "off", spellcheck: "false" });
}

export function createClockEditor() {
  const format = chips("Format", [["24h", "24-hour"], ["12h", "12-hour"]], { value: "24h", name: "clock-format" });
  const seconds = toggle("Show seconds");
  const date = toggle("Show the date");
  const timezone = timezoneInput("timezone");
  const font = select([["6x10", "6x10"]], { value: "6x10" });
  const color = h("input", { type: "color", value: "#ffffff", id: "clock-color" });
  const background = h("input", { type: "color", value: "#000000", id: "clock-background" });
  const element = h("div", {},
    format.fieldset,
    seconds.label,
    date.label,
    field("Time zone", timezone, { name: "timezone", hint: "Leave empty to use the LightBox's time zone." }),
    field("Font", font, { name: "font" }),
    h("div", { class: "grid-2" },
      h("div", { class: "field", dataset: { field: "color" } }, h("label", { for: color.id }, "Colour"), color, h("div", { class: "field-error" })),
      h("div", { class: "field", dataset: { field: "background" } }, h("label", { for: background.id }, "Background"), background, h("div", { class: "field-error" })),
    ),
  );
  return {
    element,
    setCatalog(catalog) {
      if (catalog?.fonts) fillSelect(font, catalog.fonts.filter((f) => f !== "scalable").map((f) => [f, f]), font.value || "6x10");
    },
    load(scene) {
      if (scene?.type !== "clock") return;
      format.value = scene.format;
      seconds.input.checked = scene.seconds;
      date.input.checked = scene.date;
      timezone.value = scene.timezone || "";
      font.value = scene.font;
      color.value = scene.color;
      background.value = scene.background;
    },
    read() {
      return {
        type: "clock",
        format: format.value,
        seconds: seconds.input.checked,
        date: date.input.checked,
        timezone: timezone.value.trim() || null,
        font: font.value,
        color: color.value,
        background: background.value,
      };
    },
  };
}

const SWATCHES = ["#ff0000", "#ff8000", "#ffd000", "#00ff00", "#00ffff", "#0060ff", "#8000ff", "#ff00ff", "#ffffff", "#ffb070"];

export function createSolidEditor() {
  const color = h("input", { type: "color", value: "#ff0000", id: "solid-color" });
  const swatches = h("div", { class: "row", role: "group", "aria-label": "Quick colours" },
    SWATCHES.map((c) => {
      const b = h("button", { type: "button", class: "btn icon swatch", "aria-label": `Colour ${c}`, title: c });
      b.style.background = c;
      b.addEventListener("click", () => { color.value = c; });
      return b;
    }));
  const element = h("div", {},
    h("div", { class: "field", dataset: { field: "color" } }, h("label", { for: color.id }, "Colour"), color, h("div", { class: "field-error" })),
    swatches);
  return {
    element,
    setCatalog() {},
    load(scene) {
      if (scene?.type === "solid") color.value = scene.color;
    },
    read() {
      return { type: "solid", color: color.value };
    },
  };
}
