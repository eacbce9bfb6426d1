// What the app knows about the LightBox. Everything here comes from the server: the state
// pushed on the socket, lists fetched again whenever the server says they changed.
// Views subscribe to the keys they show and re-render from here, never from assumptions.

const LOADERS = {
  info: (api) => api.info(),
  state: (api) => api.state(),
  catalog: (api) => api.get("/catalog"),
  presets: (api) => api.get("/presets"),
  playlists: (api) => api.get("/playlists"),
  schedules: (api) => api.get("/schedules"),
  media: (api) => api.get("/media"),
  settings: (api) => api.get("/settings"),
  tokens: (api) => api.get("/tokens"),
};

/** Lists may come bare or wrapped ({"items": [...]}, {"presets": [...]}). */
function unwrap(key, value) {
  if (Array.isArray(value) || value === null || typeof value !== "object") return value;
  if (Array.isArray(value.items)) return value.items;
  if (Array.isArray(value[key])) return value[key];
  return value;
}

export class Store {
  constructor(api) {
    this.api = api;
    this.data = {};
    this.listeners = new Map();
    this.errors = {};
  }

  get(key) {
    return this.data[key];
  }

  set(key, value) {
    this.data[key] = value;
    for (const fn of this.listeners.get(key) || []) {
      try {
        fn(value);
      } catch (err) {
        console.error(`listener of ${key} failed`, err);
      }
    }
  }

  /** Call `fn(value)` on every change of `key` (and now, if it is known). */
  on(key, fn, { now = true } = {}) {
    if (!this.listeners.has(key)) this.listeners.set(key, new Set());
    this.listeners.get(key).add(fn);
    if (now && key in this.data) fn(this.data[key]);
    return () => this.listeners.get(key).delete(fn);
  }

  /** Fetch `key` from the API and publish it; errors are kept, not thrown. */
  async load(key) {
    const loader = LOADERS[key];
    if (!loader) return undefined;
    try {
      const value = unwrap(key, await loader(this.api));
      delete this.errors[key];
      if (key === "state") this.setState(value);
      else this.set(key, value);
      return value;
    } catch (err) {
      this.errors[key] = err;
      console.warn(`could not load ${key}:`, err);
      return undefined;
    }
  }

  loadAll(keys = Object.keys(LOADERS)) {
    return Promise.all(keys.map((key) => this.load(key)));
  }

  /** A newer state replaces the one we have; an older one (out of order) is ignored. */
  setState(state, { force = false } = {}) {
    const current = this.data.state;
    const older = current && typeof state.version === "number" && state.version < current.version;
    if (older && !force) return;
    this.set("state", state);
  }
}
