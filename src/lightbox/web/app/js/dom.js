// Small DOM helpers shared by every view: element building, forms, errors, toasts.

let uid = 0;

/** A unique element id with a readable prefix. */
export function newId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * Build an element: h("button", {class: "btn", onclick: fn}, "Save").
 * Attributes starting with "on" become listeners; `false`/`null` attributes are left out;
 * children may be strings, nodes, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" || key === "checked" || key === "selected") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * A labelled form field. `control` is an input/select/textarea (its id is set here);
 * `name` is the API field path it edits (e.g. "matrix.width"), used to show errors at it.
 */
export function field(labelText, control, { hint = null, name = null } = {}) {
  control.id ||= newId("f");
  const errorId = `${control.id}-error`;
  const hintId = hint ? `${control.id}-hint` : null;
  control.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
  const wrapper = h(
    "div",
    { class: "field", dataset: name ? { field: name } : {} },
    h("label", { for: control.id }, labelText),
    control,
    hint ? h("div", { class: "hint", id: hintId }, hint) : null,
    h("div", { class: "field-error", id: errorId }),
  );
  return wrapper;
}

/** A checkbox that looks like a switch, with its label. */
export function toggle(labelText, { checked = false, name = null, onchange = null } = {}) {
  const input = h("input", { type: "checkbox", role: "switch", checked, name });
  if (onchange) input.addEventListener("change", onchange);
  const label = h("label", { class: "switch" }, h("span", {}, labelText), input);
  return { label, input };
}

/** A range input with its value shown next to it. */
export function slider(labelText, { min = 0, max = 255, step = 1, value = 0, name = null, hint = null, format = String } = {}) {
  const input = h("input", { type: "range", min, max, step, value, name });
  const output = h("output", { "aria-hidden": "true" }, format(Number(value)));
  input.addEventListener("input", () => { output.textContent = format(Number(input.value)); });
  const wrapper = field(labelText, input, { hint, name });
  const row = h("div", { class: "range-row" });
  input.replaceWith(row);
  row.append(input, output);
  return { wrapper, input, output, set(v) { input.value = v; output.textContent = format(Number(input.value)); } };
}

/** A <select> filled from [value, label] pairs. */
export function select(options, { value = null, name = null } = {}) {
  const el = h("select", { name });
  fillSelect(el, options, value);
  return el;
}

export function fillSelect(el, options, value = null) {
  const keep = value ?? el.value;
  el.replaceChildren(...options.map(([v, label]) => h("option", { value: v }, label)));
  if (options.some(([v]) => String(v) === String(keep))) el.value = String(keep);
}

/** Radio buttons shown as chips; returns the fieldset and a getter/setter. */
export function chips(legend, options, { value = null, name = newId("chips"), scroll = false, onchange = null } = {}) {
  const box = h("div", { class: scroll ? "chips scroll" : "chips" });
  for (const [v, label] of options) {
    const input = h("input", { type: "radio", name, value: v, checked: String(v) === String(value) });
    if (onchange) input.addEventListener("change", () => onchange(v));
    box.append(h("label", {}, input, h("span", {}, label)));
  }
  const set = h("fieldset", {}, h("legend", {}, legend), box);
  return {
    fieldset: set,
    get value() { return set.querySelector("input:checked")?.value ?? null; },
    set value(v) {
      for (const input of set.querySelectorAll("input")) input.checked = input.value === String(v);
    },
  };
}

/** Show `detail` next to the field named `fieldPath` in `root`; true if a field took it. */
export function showFieldError(root, fieldPath, detail) {
  if (!fieldPath) return false;
  const fields = [...root.querySelectorAll("[data-field]")];
  // The server may prefix the path (e.g. "settings.matrix.width" or "preset.name"):
  // match the field whose name is the longest suffix of the path.
  const match = fields
    .filter((el) => fieldPath === el.dataset.field || fieldPath.endsWith(`.${el.dataset.field}`))
    .sort((a, b) => b.dataset.field.length - a.dataset.field.length)[0];
  if (!match) return false;
  const box = match.querySelector(":scope > .field-error") || match.querySelector(".field-error");
  if (box) box.textContent = detail;
  const control = match.querySelector("input, select, textarea");
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.focus({ preventScroll: false });
  }
  return true;
}

export function clearErrors(root) {
  for (const el of root.querySelectorAll(".field-error, .form-error")) el.textContent = "";
  for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/**
 * Show an API error in a form: at its field when the server names one we show,
 * otherwise in the form's `.form-error` box (or a toast).
 */
export function showError(root, err) {
  const detail = err?.detail || err?.message || String(err);
  if (root && showFieldError(root, err?.field, detail)) return;
  const box = root?.querySelector(".form-error");
  if (box) box.textContent = detail;
  else toast(detail, { error: true });
}

/** A short message at the bottom of the screen; errors are also announced assertively. */
export function toast(message, { error = false, ms = 4000 } = {}) {
  const host = document.getElementById("toasts");
  const el = h("div", { class: error ? "toast error" : "toast" }, message);
  host.append(el);
  if (error) document.getElementById("alerts").textContent = message;
  setTimeout(() => el.remove(), ms);
}

/** Ask for confirmation in the page's <dialog>; resolves true when confirmed. */
export function confirmDialog(message, { ok = "Delete" } = {}) {
  const dialog = document.getElementById("confirm");
  dialog.querySelector("#confirm-text").textContent = message;
  dialog.querySelector("#confirm-ok").textContent = ok;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

/** Run `action` with `button` disabled; errors go to `showError(root, ...)`. */
export async function busy(button, action, root = null) {
  if (button) button.disabled = true;
  try {
    if (root) clearErrors(root);
    return await action();
  } catch (err) {
    showError(root, err);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** A stable id from a display name: "Evening glow!" -> "evening-glow". */
export function slugify(name, taken = []) {
  const base = (name || "item")
    .normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
    .toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^[-_]+|-+$/g, "")
    .slice(0, 56) || "item";
  let id = base;
  for (let n = 2; taken.includes(id); n += 1) id = `${base}-${n}`;
  return id;
}

export function formatTime(iso, { seconds = false } = {}) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(undefined, {
    weekday: "short", hour: "2-digit", minute: "2-digit", ...(seconds ? { second: "2-digit" } : {}),
  });
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
