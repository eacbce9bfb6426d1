// One-line, human descriptions of scenes, schedules and triggers.

export function effectTitle(catalog, name) {
  return catalog?.effects?.find((e) => e.name === name)?.title || name;
}

export function describeScene(scene, catalog = null) {
  if (!scene) return "nothing";
  switch (scene.type) {
    case "effect":
      return `Effect: ${effectTitle(catalog, scene.effect)}`;
    case "text": {
      const text = scene.text.length > 32 ? `${scene.text.slice(0, 31)}…` : scene.text;
      return `Text: “${text}”${scene.mode === "scroll" ? " (scrolling)" : ""}`;
    }
    case "image":
      return `Image: ${scene.media}`;
    case "gif":
      return `Animation: ${scene.media}`;
    case "clock":
      return `Clock (${scene.format})`;
    case "solid":
      return `Solid colour ${scene.color}`;
    case "stream":
      return `Live stream (${scene.source})`;
    case "layers":
      return `${scene.layers.length} layers`;
    default:
      return scene.type;
  }
}

const DAY_ORDER = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

export function describeDays(days) {
  if (!days || days.length === 7) return "every day";
  const set = new Set(days);
  if (set.size === 5 && DAY_ORDER.slice(0, 5).every((d) => set.has(d))) return "weekdays";
  if (set.size === 2 && set.has("sat") && set.has("sun")) return "weekends";
  return DAY_ORDER.filter((d) => set.has(d)).map((d) => d[0].toUpperCase() + d.slice(1)).join(", ");
}

export function describeTrigger(trigger) {
  if (trigger.type === "time") return `at ${trigger.at}`;
  const offset = trigger.offset_min || 0;
  if (!offset) return `at ${trigger.event}`;
  const abs = Math.abs(offset);
  return `${abs} min ${offset < 0 ? "before" : "after"} ${trigger.event}`;
}

export function describeAction(action, { presets = [], playlists = [] } = {}) {
  switch (action.type) {
    case "preset.apply":
      return `apply preset “${presets.find((p) => p.id === action.preset)?.name || action.preset}”`;
    case "playlist.start":
      return `start playlist “${playlists.find((p) => p.id === action.playlist)?.name || action.playlist}”`;
    case "playlist.stop":
      return "stop the playlist";
    case "set":
      if (action.power === false) return "power off";
      if (action.power === true && !action.scene) return "power on";
      return "change the scene";
    default:
      return action.type;
  }
}
