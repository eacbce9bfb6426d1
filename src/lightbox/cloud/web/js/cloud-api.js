// The cloud API (/api/v1) for the dashboard: sign-up, sign-in with token refresh, devices,
// and DeviceApi: an adapter that gives the LightBox web app's views (served at /app/js/)
// the same interface as its own local API client, going through the cloud relay.

import { ApiError } from "/app/js/api.js";

export const API = "/api/v1";
const TOKENS_KEY = "lightbox.cloud.tokens";

async function problemFrom(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  if (body && typeof body === "object") {
    return new ApiError({ status: response.status, detail: body.detail, code: body.code, field: body.field ?? null, title: body.title });
  }
  return new ApiError({ status: response.status, detail: `${response.status} ${response.statusText}` });
}

export class CloudApi {
  constructor({ onSignedOut = null } = {}) {
    this.onSignedOut = onSignedOut;
    try { this.tokens = JSON.parse(localStorage.getItem(TOKENS_KEY) || "null"); } catch { this.tokens = null; }
  }

  get signedIn() { return Boolean(this.tokens?.access_token); }

  keep(tokens) {
    this.tokens = tokens;
    if (tokens) localStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
    else localStorage.removeItem(TOKENS_KEY);
  }

  async raw(method, path, body, token) {
    const init = { method, headers: {}, cache: "no-store" };
    if (token) init.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(API + path, init);
    } catch {
      throw new ApiError({ status: 0, detail: "The cloud cannot be reached. Check your connection.", code: "offline" });
    }
    if (!response.ok) throw await problemFrom(response);
    if (response.status === 204) return null;
    return response.json();
  }

  /** An authenticated request; one refresh and retry when the access token expired. */
  async request(method, path, body = undefined) {
    try {
      return await this.raw(method, path, body, this.tokens?.access_token);
    } catch (err) {
      if (err.status !== 401 || !this.tokens?.refresh_token) throw this.signedOutOn(err);
    }
    try {
      this.keep(await this.raw("POST", "/auth/refresh", { refresh_token: this.tokens.refresh_token }));
    } catch (err) {
      throw this.signedOutOn(err);
    }
    try {
      return await this.raw(method, path, body, this.tokens.access_token);
    } catch (err) {
      throw this.signedOutOn(err);
    }
  }

  signedOutOn(err) {
    if (err.status === 401) {
      this.keep(null);
      this.onSignedOut?.(err);
    }
    return err;
  }

  async signup(email, password) { return this.raw("POST", "/auth/signup", { email, password }); }
  async login(email, password) {
    this.keep(await this.raw("POST", "/auth/login", { email, password }));
    this.email = email;
  }
  async logout() {
    const refresh = this.tokens?.refresh_token;
    try { await this.raw("POST", "/auth/logout", refresh ? { refresh_token: refresh } : {}, this.tokens?.access_token); } catch { /* gone anyway */ }
    this.keep(null);
  }
  me() { return this.request("GET", "/me"); }
  devices() { return this.request("GET", "/devices"); }
  device(id) { return this.request("GET", `/devices/${encodeURIComponent(id)}`); }
  claim(code) { return this.request("POST", "/devices/claim", { code }); }
  catalog() { return this.request("GET", "/catalog"); }
  state(id) { return this.request("GET", `/devices/${encodeURIComponent(id)}/state`); }
  command(id, command) { return this.request("POST", `/devices/${encodeURIComponent(id)}/commands`, command); }
  synced(id) { return this.request("GET", `/devices/${encodeURIComponent(id)}/synced`); }
  telemetry(id, { since, until, bucket }) {
    const q = new URLSearchParams({ since, until, bucket: String(bucket) });
    return this.request("GET", `/devices/${encodeURIComponent(id)}/telemetry?${q}`);
  }
  updateStatus(id) { return this.request("GET", `/devices/${encodeURIComponent(id)}/update-status`); }
  fleetSummary() { return this.request("GET", "/fleet/summary"); }
  // admins only (403 for everyone else)
  releases() { return this.request("GET", "/releases"); }
  rollouts() { return this.request("GET", "/rollouts"); }
  rollout(id) { return this.request("GET", `/rollouts/${encodeURIComponent(id)}`); }
  rolloutAction(id, action) { return this.request("POST", `/rollouts/${encodeURIComponent(id)}/${action}`, action === "widen" ? {} : undefined); }
}

function commandId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

/** One device through the relay, shaped like the web app's local `Api`. */
export class DeviceApi {
  constructor(cloud, deviceId, { afterCommand = null } = {}) {
    this.cloud = cloud;
    this.deviceId = deviceId;
    this.afterCommand = afterCommand;
  }

  async info() {
    const d = await this.cloud.device(this.deviceId);
    return { id: d.device_id, name: d.name, version: d.version, online: d.online };
  }

  state() { return this.cloud.state(this.deviceId); }

  async command(command) {
    const result = await this.cloud.command(this.deviceId, { id: commandId(), ...command });
    this.afterCommand?.(result);
    return result;
  }

  patchState(change) { return this.command({ type: "set", ...change }); }

  async get(path) {
    if (path === "/catalog") return this.cloud.catalog();
    if (path === "/media" || path === "/presets") return [];
    throw new ApiError({ status: 404, code: "not_found", detail: `${path} is not available through the cloud yet` });
  }

  upload() {
    return Promise.reject(new ApiError({ status: 0, code: "forbidden", detail: "Upload images on the LightBox's own app (on its network)." }));
  }

  delete(path) { return this.get(path); }
}

/** The web app's live socket, as far as the cloud goes: no frames, presence only. */
export class CloudLive extends EventTarget {
  setPreview() {}
  start() {}
  stop() {}
}
