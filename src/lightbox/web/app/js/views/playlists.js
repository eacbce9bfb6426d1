// Playlists: presets shown one after another. Create one, start/stop/skip, see the
// running one and its current entry (from state.playlist).

import { busy, confirmDialog, field, fillSelect, formatTime, h, newId, replace, select, slugify, toast, toggle } from "../dom.js";

export function mountPlaylistsView(root, { store, api }) {
  // -- now playing --------------------------------------------------------------------
  const nowCard = h("div", { class: "card", id: "playlist-now", "aria-live": "polite" });
  const step = (path, label) => {
    const b = h("button", { type: "button", class: "btn" }, label);
    b.addEventListener("click", () => busy(b, () => api.post(path)));
    return b;
  };
  const controls = h("div", { class: "row" },
    step("/playlist/previous", "◀ Previous"), step("/playlist/next", "Next ▶"));
  const stop = h("button", { type: "button", class: "btn danger" }, "■ Stop");
  stop.addEventListener("click", () => busy(stop, () => api.post("/playlist/stop")));
  controls.append(stop);

  // -- create -------------------------------------------------------------------------
  const name = h("input", { type: "text", name: "name", maxlength: 64, autocomplete: "off", placeholder: "Evening" });
  const entries = h("div", { class: "entries", id: "playlist-entries" });
  const addEntry = h("button", { type: "button", class: "btn" }, "+ Add preset");
  const repeat = h("input", { type: "number", name: "repeat", min: 0, max: 10000, value: 0, inputmode: "numeric" });
  const shuffle = toggle("Shuffle");
  const end = select([["stay", "Keep showing the last preset"], ["off", "Turn the matrix off"]], { value: "stay" });
  const create = h("button", { type: "submit", class: "btn primary" }, "Create playlist");
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "playlist-new-title" },
    h("h3", { id: "playlist-new-title" }, "New playlist"),
    field("Name", name, { name: "name" }),
    h("div", { class: "field", dataset: { field: "entries" } },
      h("span", { class: "label" }, "Presets and how long each shows"), entries, h("div", { class: "field-error" })),
    addEntry,
    h("div", { class: "grid-2" },
      field("Passes (0: forever)", repeat, { name: "repeat" }),
      field("At the end", end, { name: "end" })),
    shuffle.label,
    h("div", { class: "form-error error", role: "alert" }),
    h("div", { class: "row end" }, create));

  function presetOptions() {
    const presets = store.get("presets") || [];
    return presets.length ? presets.map((p) => [p.id, p.name]) : [["", "No presets yet: save one first"]];
  }

  function entryRow(preset = null, seconds = 30) {
    const id = newId("entry");
    const pick = select(presetOptions(), { value: preset });
    pick.id = id;
    pick.classList.add("entry-preset");
    const duration = h("input", { type: "number", min: 0.5, max: 86400, step: "any", value: seconds, class: "entry-duration", "aria-label": "Seconds", inputmode: "decimal" });
    const remove = h("button", { type: "button", class: "btn icon danger", "aria-label": "Remove this entry" }, "✕");
    const row = h("div", { class: "entry-row" },
      h("div", {}, h("label", { for: id }, "Preset"), pick),
      h("div", {}, h("span", { class: "label" }, "Seconds"), duration),
      remove);
    remove.addEventListener("click", () => row.remove());
    return row;
  }
  addEntry.addEventListener("click", () => entries.append(entryRow()));

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(create, async () => {
      const label = name.value.trim();
      if (!label) throw Object.assign(new Error("Give the playlist a name."), { field: "name" });
      const rows = [...entries.querySelectorAll(".entry-row")];
      if (!rows.length) throw Object.assign(new Error("Add at least one preset."), { field: "entries" });
      const playlist = {
        id: slugify(label, (store.get("playlists") || []).map((p) => p.id)),
        name: label,
        entries: rows.map((row) => ({
          preset: row.querySelector(".entry-preset").value,
          duration_s: Number(row.querySelector(".entry-duration").value),
        })),
        repeat: Number(repeat.value || 0),
        shuffle: shuffle.input.checked,
        end: end.value,
      };
      await api.post("/playlists", playlist);
      toast(`Created playlist “${label}”`);
      name.value = "";
      replace(entries, entryRow());
      await store.load("playlists");
    }, form);
  });

  // -- list ---------------------------------------------------------------------------
  const list = h("ul", { class: "list", id: "playlist-list", "aria-label": "Playlists" });

  function renderNow() {
    const status = store.get("state")?.playlist;
    if (!status) {
      replace(nowCard, h("h3", {}, "Now playing"), h("p", { class: "muted" }, "No playlist is running."));
      return;
    }
    const pl = (store.get("playlists") || []).find((p) => p.id === status.playlist);
    const preset = (store.get("presets") || []).find((p) => p.id === status.preset);
    const count = pl?.entries.length ?? status.order.length;
    replace(nowCard,
      h("h3", {}, "Now playing"),
      h("p", {}, h("strong", { id: "playlist-running" }, pl?.name || status.playlist),
        ` — entry ${status.index + 1} of ${count}: `,
        h("strong", { id: "playlist-entry" }, preset?.name || status.preset)),
      status.next_at ? h("p", { class: "small muted" }, `Next entry at ${formatTime(status.next_at, { seconds: true })}`) : null,
      controls);
  }

  function render() {
    const playlists = store.get("playlists") || [];
    const running = store.get("state")?.playlist?.playlist;
    for (const sel of entries.querySelectorAll(".entry-preset")) fillSelect(sel, presetOptions());
    if (!entries.children.length) entries.append(entryRow());
    renderNow();
    if (!playlists.length) {
      replace(list, h("li", { class: "empty" }, "No playlists yet."));
      return;
    }
    replace(list, playlists.map((pl) => {
      const start = h("button", { type: "button", class: "btn primary", "aria-label": `Start ${pl.name}` }, "▶ Start");
      start.addEventListener("click", () => busy(start, () => api.post(`/playlists/${encodeURIComponent(pl.id)}/start`)));
      const del = h("button", { type: "button", class: "btn danger", "aria-label": `Delete ${pl.name}` }, "Delete");
      del.addEventListener("click", async () => {
        if (!(await confirmDialog(`Delete playlist “${pl.name}”?`))) return;
        await busy(del, async () => {
          await api.delete(`/playlists/${encodeURIComponent(pl.id)}`);
          await store.load("playlists");
        });
      });
      const total = pl.entries.reduce((sum, e) => sum + e.duration_s, 0);
      return h("li", { class: pl.id === running ? "active" : "", dataset: { id: pl.id } },
        h("div", { class: "grow" }, h("div", { class: "title" }, pl.name),
          h("div", { class: "small muted" }, `${pl.entries.length} presets · ${Math.round(total)} s${pl.shuffle ? " · shuffled" : ""}`)),
        start, del);
    }));
  }
  store.on("playlists", render);
  store.on("presets", render);
  store.on("state", renderNow);

  replace(root,
    h("h2", { id: "playlists-title" }, "Playlists"),
    nowCard,
    h("div", { class: "card" }, h("h3", {}, "Your playlists"), list),
    form);
  return { show() {}, hide() {} };
}
