// The image/GIF editor: upload to the media library (with progress and the server's error),
// pick an item, choose how it fits, delete items.

import { busy, clearErrors, confirmDialog, field, formatBytes, h, replace, select, toast } from "../dom.js";

const ACCEPT = "image/png,image/jpeg,image/webp,image/gif,.png,.jpg,.jpeg,.webp,.gif";

export function createMediaEditor(store, api) {
  const file = h("input", { type: "file", accept: ACCEPT, name: "file" });
  const progress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "Upload progress" });
  const uploadField = field("Upload an image or GIF", file, { name: "file", hint: "PNG, JPEG, WebP or (animated) GIF." });
  uploadField.append(progress);
  const list = h("ul", { class: "list media-list", "aria-label": "Media library" });
  const fit = select([["contain", "Contain (letterbox)"], ["cover", "Cover (crop)"], ["fill", "Fill (stretch)"], ["center", "Centre (no scaling)"]], { value: "contain" });
  const background = h("input", { type: "color", value: "#000000", id: "media-background" });
  const element = h("div", {},
    uploadField,
    h("h3", {}, "Library"),
    list,
    h("div", { class: "grid-2" },
      field("Fit", fit, { name: "fit" }),
      h("div", { class: "field", dataset: { field: "background" } }, h("label", { for: "media-background" }, "Background"), background, h("div", { class: "field-error" })),
    ),
  );
  let selected = null;
  let items = [];
  const thumbs = new Map(); // "id:sha256" -> object URL of the file (fetched with the token)

  function thumbnail(m) {
    const img = h("img", { class: "thumb", alt: "", width: 48, height: 48 });
    const key = `${m.id}:${m.sha256}`;
    if (thumbs.has(key)) {
      img.src = thumbs.get(key);
    } else {
      api.get(`/media/${encodeURIComponent(m.id)}/file`).then((blob) => {
        if (!(blob instanceof Blob)) return;
        const url = URL.createObjectURL(blob);
        thumbs.set(key, url);
        img.src = url;
      }).catch(() => { img.hidden = true; });
    }
    return img;
  }

  file.addEventListener("change", async () => {
    const chosen = file.files?.[0];
    if (!chosen) return;
    clearErrors(uploadField);
    progress.hidden = false;
    progress.value = 0;
    file.disabled = true;
    try {
      const record = await api.upload(chosen, (fraction) => { progress.value = fraction; });
      selected = record?.id ?? selected;
      toast(`Uploaded ${record?.id ?? chosen.name}`);
      await store.load("media");
    } catch (err) {
      // Always show upload errors at the upload field, whatever field the server names.
      uploadField.querySelector(".field-error").textContent = err.detail || err.message;
      file.setAttribute("aria-invalid", "true");
    } finally {
      progress.hidden = true;
      file.disabled = false;
      file.value = "";
    }
  });

  function render() {
    if (!items.length) {
      replace(list, h("li", { class: "empty" }, "No images yet: upload one above."));
      return;
    }
    if (!items.some((m) => m.id === selected)) selected = items[0].id;
    replace(list, items.map((m) => {
      const radio = h("input", { type: "radio", name: "media-item", value: m.id, checked: m.id === selected, id: `media-${m.id}` });
      radio.addEventListener("change", () => { selected = m.id; render(); });
      const info = [m.width && m.height ? `${m.width}×${m.height}` : null, m.frames > 1 ? `${m.frames} frames` : null, m.bytes ? formatBytes(m.bytes) : null].filter(Boolean).join(" · ");
      const del = h("button", { type: "button", class: "btn danger", "aria-label": `Delete ${m.id}` }, "Delete");
      del.addEventListener("click", async () => {
        if (!(await confirmDialog(`Delete “${m.id}” from the library?`))) return;
        await busy(del, async () => {
          await api.delete(`/media/${encodeURIComponent(m.id)}`);
          toast(`Deleted ${m.id}`);
          await store.load("media");
        });
      });
      return h("li", { class: m.id === selected ? "selected" : "" },
        radio,
        thumbnail(m),
        h("label", { for: radio.id, class: "grow" }, h("div", { class: "title" }, m.id), h("div", { class: "small muted" }, info)),
        del);
    }));
  }

  store.on("media", (value) => { items = Array.isArray(value) ? value : []; render(); });

  return {
    element,
    setCatalog() {},
    load(scene) {
      if (scene?.type !== "image" && scene?.type !== "gif") return;
      selected = scene.media;
      fit.value = scene.fit;
      if (scene.background) background.value = scene.background;
      render();
    },
    read() {
      const item = items.find((m) => m.id === selected);
      if (!item) throw Object.assign(new Error("Upload or choose an image first."), { field: "file" });
      const animated = (item.frames ?? 1) > 1;
      return { type: animated ? "gif" : "image", media: item.id, fit: fit.value, background: background.value };
    },
  };
}

