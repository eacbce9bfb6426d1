// The live connection: /api/v1/ws with state pushes, change notices and the preview.
//
// Protocol: send {"type":"auth","token"} first; receive {"type":"hello",info,state}, then
// {"type":"state",state} on every change, {"type":"changed",topic} when a list changed,
// {"type":"result",...} for commands sent here. Preview frames are binary:
// "LB", uint16 BE width, uint16 BE height, then width*height*3 RGB bytes.
// The socket reconnects on its own with exponential backoff and jitter.

import { API } from "./api.js";

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
// Close codes meaning "your token is not good": reconnecting would not help.
const AUTH_CLOSE_CODES = new Set([1008, 4001, 4003, 4401, 4403]);

export class LiveSocket extends EventTarget {
  constructor(token) {
    super();
    this.token = token;
    this.ws = null;
    this.status = "connecting";
    this.attempt = 0;
    this.retryTimer = null;
    this.stopped = false;
    this.preview = { enabled: false, fps: 15 };
    this.retryAt = null;
  }

  get url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}${API}/ws`;
  }

  get open() {
    return this.ws?.readyState === WebSocket.OPEN && this.status === "online";
  }

  start() {
    this.stopped = false;
    this.connect();
    addEventListener("online", this.kick);
    document.addEventListener("visibilitychange", this.kick);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    removeEventListener("online", this.kick);
    document.removeEventListener("visibilitychange", this.kick);
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
  }

  /** Reconnect now (the network came back, the page became visible). */
  kick = () => {
    if (this.stopped || document.visibilityState === "hidden") return;
    if (this.status === "offline") {
      clearTimeout(this.retryTimer);
      this.connect();
    }
  };

  setStatus(status, detail = null) {
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: { status, detail, retryAt: this.retryAt } }));
  }

  connect() {
    if (this.stopped) return;
    this.retryAt = null;
    this.setStatus("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleRetry();
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "auth", token: this.token })));
    ws.addEventListener("message", (event) => this.onMessage(event));
    ws.addEventListener("close", (event) => this.onClose(ws, event));
  }

  onMessage(event) {
    if (typeof event.data !== "string") {
      this.onFrame(event.data);
      return;
    }
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      return;
    }
    switch (msg.type) {
      case "hello":
        this.attempt = 0;
        this.setStatus("online");
        if (this.preview.enabled) this.sendPreview();
        this.dispatchEvent(new CustomEvent("hello", { detail: msg }));
        if (msg.state) this.dispatchEvent(new CustomEvent("state", { detail: msg.state }));
        break;
      case "state":
        this.dispatchEvent(new CustomEvent("state", { detail: msg.state }));
        break;
      case "changed":
        this.dispatchEvent(new CustomEvent("changed", { detail: msg.topic }));
        break;
      case "info":
        this.dispatchEvent(new CustomEvent("info", { detail: msg.info }));
        break;
      case "result":
        this.dispatchEvent(new CustomEvent("result", { detail: msg }));
        break;
      case "error": {
        const err = msg.error || msg;
        if (err.code === "unauthorized" || err.code === "forbidden") {
          this.authFailed(err.detail || err.message);
        } else {
          this.dispatchEvent(new CustomEvent("error", { detail: err }));
        }
        break;
      }
      default:
        break;
    }
  }

  onFrame(buffer) {
    if (buffer.byteLength < 6) return;
    const view = new DataView(buffer);
    if (view.getUint8(0) !== 0x4c || view.getUint8(1) !== 0x42) return; // "LB"
    const width = view.getUint16(2);
    const height = view.getUint16(4);
    if (buffer.byteLength < 6 + width * height * 3) return;
    const rgb = new Uint8Array(buffer, 6, width * height * 3);
    this.dispatchEvent(new CustomEvent("frame", { detail: { width, height, rgb } }));
  }

  onClose(ws, event) {
    if (ws !== this.ws) return; // an old socket
    this.ws = null;
    if (this.stopped) return;
    if (AUTH_CLOSE_CODES.has(event.code) && this.status !== "online") {
      this.authFailed(event.reason || "The LightBox refused this token.");
      return;
    }
    this.scheduleRetry();
  }

  authFailed(detail) {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    this.setStatus("unauthorized", detail);
  }

  scheduleRetry() {
    this.attempt += 1;
    const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** (this.attempt - 1));
    const delay = base / 2 + Math.random() * (base / 2); // "equal jitter"
    this.retryAt = Date.now() + delay;
    this.setStatus("offline");
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  send(message) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** Send a command over the socket; false when not connected (use REST then). */
  command(command) {
    return this.send({ type: "command", command });
  }

  setPreview(enabled, fps = 15) {
    if (this.preview.enabled === enabled && this.preview.fps === fps) return;
    this.preview = { enabled, fps };
    this.sendPreview();
  }

  sendPreview() {
    this.send({ type: "preview", enabled: this.preview.enabled, fps: this.preview.fps });
  }
}
