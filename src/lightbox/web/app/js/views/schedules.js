// Schedules: time-of-day (or sunrise/sunset) rules that apply a preset, start a playlist or
// switch the matrix on or off. The next one to fire comes from state.schedule.

import { busy, chips, confirmDialog, field, fillSelect, formatTime, h, replace, select, slugify, toast, toggle } from "../dom.js";
import { describeAction, describeDays, describeTrigger } from "../scenes/describe.js";
import { timezoneInput } from "../scenes/clock.js";

const DAYS = [["mon", "Mon"], ["tue", "Tue"], ["wed", "Wed"], ["thu", "Thu"], ["fri", "Fri"], ["sat", "Sat"], ["sun", "Sun"]];

export function mountSchedulesView(root, { store, api }) {
  const next = h("p", { id: "schedule-next", "aria-live": "polite" });

  // -- create -------------------------------------------------------------------------
  const name = h("input", { type: "text", name: "name", maxlength: 64, autocomplete: "off", placeholder: "Morning" });
  const kind = chips("When", [["time", "At a time"], ["sunrise", "Sunrise"], ["sunset", "Sunset"]], { value: "time", name: "trigger-kind" });
  const at = h("input", { type: "time", name: "at", value: "07:00", step: 60 });
  const atField = field("Time", at, { name: "trigger.at" });
  const offset = h("input", { type: "number", name: "offset", min: -720, max: 720, value: 0, inputmode: "numeric" });
  const offsetField = field("Offset (minutes; negative: before)", offset, { name: "trigger.offset_min" });
  const days = h("div", { class: "weekdays" }, DAYS.map(([v, label]) =>
    h("label", {}, h("input", { type: "checkbox", name: "days", value: v, checked: true }), h("span", { "aria-label": label }, label.slice(0, 2)))));
  const action = select([
    ["preset.apply", "Apply a preset"], ["playlist.start", "Start a playlist"],
    ["power.on", "Turn on"], ["power.off", "Turn off"], ["playlist.stop", "Stop the playlist"],
  ], { value: "preset.apply" });
  const preset = select([]);
  const presetField = field("Preset", preset, { name: "action.preset" });
  const playlist = select([]);
  const playlistField = field("Playlist", playlist, { name: "action.playlist" });
  const timezone = timezoneInput("timezone");
  const create = h("button", { type: "submit", class: "btn primary" }, "Create schedule");
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "schedule-new-title" },
    h("h3", { id: "schedule-new-title" }, "New schedule"),
    field("Name", name, { name: "name" }),
    kind.fieldset, atField, offsetField,
    h("fieldset", { class: "field", dataset: { field: "days" } }, h("legend", {}, "Days"), days, h("div", { class: "field-error" })),
    field("Do", action, { name: "action" }), presetField, playlistField,
    field("Time zone", timezone, { name: "timezone", hint: "Leave empty to use the LightBox's time zone." }),
    h("div", { class: "form-error error", role: "alert" }),
    h("div", { class: "row end" }, create));

  function sync() {
    const isTime = kind.value === "time";
    atField.hidden = !isTime;
    offsetField.hidden = isTime;
    presetField.hidden = action.value !== "preset.apply";
    playlistField.hidden = action.value !== "playlist.start";
  }
  form.addEventListener("change", sync);
  sync();

  function readAction() {
    switch (action.value) {
      case "preset.apply": return { type: "preset.apply", preset: preset.value };
      case "playlist.start": return { type: "playlist.start", playlist: playlist.value };
      case "power.on": return { type: "set", power: true };
      case "power.off": return { type: "set", power: false };
      default: return { type: "playlist.stop" };
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(create, async () => {
      const label = name.value.trim();
      if (!label) throw Object.assign(new Error("Give the schedule a name."), { field: "name" });
      const trigger = kind.value === "time"
        ? { type: "time", at: at.value }
        : { type: "sun", event: kind.value, offset_min: Number(offset.value || 0) };
      const schedule = {
        id: slugify(label, (store.get("schedules") || []).map((s) => s.id)),
        name: label,
        enabled: true,
        trigger,
        days: [...days.querySelectorAll("input:checked")].map((i) => i.value),
        timezone: timezone.value.trim() || null,
        action: readAction(),
      };
      await api.post("/schedules", schedule);
      toast(`Created schedule “${label}”`);
      name.value = "";
      await store.load("schedules");
    }, form);
  });

  // -- list ---------------------------------------------------------------------------
  const list = h("ul", { class: "list", id: "schedule-list", "aria-label": "Schedules" });

  function renderNext() {
    const status = store.get("state")?.schedule;
    const schedules = store.get("schedules") || [];
    const upcoming = status?.next ? schedules.find((s) => s.id === status.next) : null;
    const last = status?.last_fired ? schedules.find((s) => s.id === status.last_fired) : null;
    replace(next,
      status?.next ? ["Next: ", h("strong", {}, upcoming?.name || status.next), ` — ${formatTime(status.next_at)}`] : "No schedule is due.",
      last ? h("span", { class: "small muted" }, ` (last: ${last.name}, ${formatTime(status.last_fired_at)})`) : null);
  }

  function render() {
    const schedules = store.get("schedules") || [];
    const presets = store.get("presets") || [];
    const playlists = store.get("playlists") || [];
    fillSelect(preset, presets.length ? presets.map((p) => [p.id, p.name]) : [["", "No presets yet"]]);
    fillSelect(playlist, playlists.length ? playlists.map((p) => [p.id, p.name]) : [["", "No playlists yet"]]);
    renderNext();
    if (!schedules.length) {
      replace(list, h("li", { class: "empty" }, "No schedules yet."));
      return;
    }
    replace(list, schedules.map((s) => {
      const enabled = toggle("Enabled", { checked: s.enabled });
      enabled.input.setAttribute("aria-label", `${s.name} enabled`);
      enabled.label.querySelector("span").classList.add("visually-hidden");
      enabled.input.addEventListener("change", () => busy(enabled.input, async () => {
        try {
          await api.put(`/schedules/${encodeURIComponent(s.id)}`, { ...s, enabled: enabled.input.checked });
        } finally {
          await store.load("schedules");
        }
      }));
      const del = h("button", { type: "button", class: "btn danger", "aria-label": `Delete ${s.name}` }, "Delete");
      del.addEventListener("click", async () => {
        if (!(await confirmDialog(`Delete schedule “${s.name}”?`))) return;
        await busy(del, async () => {
          await api.delete(`/schedules/${encodeURIComponent(s.id)}`);
          await store.load("schedules");
        });
      });
      return h("li", { dataset: { id: s.id } },
        h("div", { class: "grow" }, h("div", { class: "title" }, s.name),
          h("div", { class: "small muted" },
            `${describeTrigger(s.trigger)}, ${describeDays(s.days)}: ${describeAction(s.action, { presets, playlists })}`)),
        enabled.label, del);
    }));
  }
  store.on("schedules", render);
  store.on("presets", render);
  store.on("playlists", render);
  store.on("state", renderNext);

  replace(root,
    h("h2", { id: "schedules-title" }, "Schedules"),
    h("div", { class: "card" }, next, list),
    form);
  return { show() {}, hide() {} };
}
