// REST client for the LightBox local API (/api/v1), with the token kept in localStorage.
//
// Errors come back as RFC 9457 problem+json: {title, status, detail, code, field}; they are
// raised as ApiError so a form can show `detail` next to `field`.

export const API = "/api/v1";
const TOKEN_KEY = "lightbox.token";

export class ApiError extends Error {
  constructor({ status = 0, detail, code = null, field = null, title = null }) {
    super(detail || title || `request failed (${status})`);
    this.status = status;
    this.detail = this.message;
    this.code = code;
    this.field = field;
  }

  get unauthorized() {
    return this.status === 401 || this.code === "unauthorized";
  }
}

export function loadToken() {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function saveToken(token) {
  localStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  localStorage.removeItem(TOKEN_KEY);
}

async function problemFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's page, an empty body...
  }
  if (body && typeof body === "object") {
    // FastAPI's own {"detail": [...]} for request-shape errors is turned into a message too.
    let detail = body.detail;
    let field = body.field ?? null;
    if (Array.isArray(detail) && detail.length) {
      const first = detail[0];
      field ??= (first.loc || []).filter((p) => p !== "body").join(".") || null;
      detail = first.msg;
    }
    return new ApiError({ status: response.status, detail, code: body.code, field, title: body.title });
  }
  return new ApiError({ status: response.status, detail: `${response.status} ${response.statusText}` });
}

export class Api {
  constructor(token = null, { onUnauthorized = null } = {}) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  headers(extra = {}) {
    return this.token ? { Authorization: `Bearer ${this.token}`, ...extra } : extra;
  }

  async request(method, path, body = undefined, { auth = true } = {}) {
    const init = { method, headers: auth ? this.headers() : {}, cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(API + path, init);
    } catch (err) {
      throw new ApiError({ status: 0, detail: "The LightBox cannot be reached. Is it on, and on this network?", code: "offline" });
    }
    if (!response.ok) {
      const err = await problemFrom(response);
      if (err.unauthorized && auth && this.onUnauthorized) this.onUnauthorized(err);
      throw err;
    }
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    return type.includes("json") ? response.json() : response.blob();
  }

  get(path, opts) { return this.request("GET", path, undefined, opts); }
  post(path, body = {}) { return this.request("POST", path, body); }
  put(path, body) { return this.request("PUT", path, body); }
  patch(path, body) { return this.request("PATCH", path, body); }
  delete(path) { return this.request("DELETE", path); }

  info() { return this.get("/info", { auth: false }); }
  /** Exchange a one-time pairing code for a new token: {id, name, token}. */
  pair(code, name) { return this.request("POST", "/pair", { code, name }, { auth: false }); }
  state() { return this.get("/state"); }
  patchState(change) { return this.patch("/state", change); }

  /** Send any command; a command refused by the LightBox raises its error. */
  async command(command) {
    const result = await this.post("/commands", command);
    if (result && result.ok === false && result.error) {
      throw new ApiError({ status: 422, detail: result.error.message, code: result.error.code, field: result.error.field });
    }
    return result;
  }

  /** Upload a file to the media library; `onProgress(fraction)` while it goes. */
  upload(file, onProgress = () => {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${API}/media`);
      if (this.token) xhr.setRequestHeader("Authorization", `Bearer ${this.token}`);
      xhr.responseType = "text";
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      });
      xhr.addEventListener("load", async () => {
        const response = new Response(xhr.responseText || null, {
          status: xhr.status,
          headers: { "content-type": xhr.getResponseHeader("content-type") || "" },
        });
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress(1);
          resolve(xhr.responseText ? JSON.parse(xhr.responseText) : null);
        } else {
          const err = await problemFrom(response);
          if (err.unauthorized && this.onUnauthorized) this.onUnauthorized(err);
          reject(err);
        }
      });
      xhr.addEventListener("error", () => reject(new ApiError({ status: 0, detail: "The upload failed: the LightBox cannot be reached.", code: "offline" })));
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  }
}
