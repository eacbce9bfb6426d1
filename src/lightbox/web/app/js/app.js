// The LightBox web app: start-up, the session (API + live socket + store) and navigation.

import { Api, forgetToken, loadToken, saveToken } from "./api.js";
import { toast } from "./dom.js";
import { LiveSocket } from "./live.js";
import { Store } from "./store.js";
import { mountControlView } from "./views/control.js";
import { mountPlaylistsView } from "./views/playlists.js";
import { mountPresetsView } from "./views/presets.js";
import { mountSchedulesView } from "./views/schedules.js";
import { mountSettingsView } from "./views/settings.js";
import { showTokenView } from "./views/token.js";

const VIEWS = {
  control: mountControlView,
  presets: mountPresetsView,
  playlists: mountPlaylistsView,
  schedules: mountSchedulesView,
  settings: mountSettingsView,
};
const LIST_TOPICS = ["presets", "playlists", "schedules", "media", "settings", "tokens", "catalog"];

let session = null;

function $(id) {
  return document.getElementById(id);
}

function showConnection({ status, detail, retryAt }) {
  const box = $("connection");
  box.dataset.status = status;
  const text = box.querySelector(".connection-text");
  if (status === "online") text.textContent = "Live";
  else if (status === "connecting") text.textContent = "Connecting…";
  else if (status === "unauthorized") text.textContent = "Not signed in";
  else {
    const seconds = retryAt ? Math.max(1, Math.round((retryAt - Date.now()) / 1000)) : null;
    text.textContent = seconds ? `Offline, retrying in ${seconds} s` : "Offline";
  }
  box.title = detail || text.textContent;
}

function hideAllViews() {
  for (const el of document.querySelectorAll(".view")) el.hidden = true;
}

/** The token screen; the rest of the app waits behind it. */
function askForToken(message = null, pairCode = null) {
  hideAllViews();
  $("nav").hidden = true;
  document.body.classList.add("no-nav");
  showConnection({ status: "unauthorized" });
  showTokenView($("view-token"), {
    message,
    pairCode,
    onToken(token) {
      saveToken(token);
      $("view-token").hidden = true;
      start(token);
    },
  });
}

function route() {
  if (!session) return;
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1];
  const view = VIEWS[name] ? name : "control";
  hideAllViews();
  for (const [key, mounted] of Object.entries(session.views)) {
    if (key !== view) mounted.hide();
  }
  $(`view-${view}`).hidden = false;
  session.views[view].show();
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  session.current = view;
}

function start(token) {
  const api = new Api(token, { onUnauthorized: (err) => session?.signOut(err.detail) });
  const store = new Store(api);
  const live = new LiveSocket(token);
  session = { api, store, live, views: {}, current: null };
  session.signOut = (message) => {
    live.stop();
    forgetToken();
    session = null;
    askForToken(message);
  };

  live.addEventListener("status", (e) => {
    showConnection(e.detail);
    if (e.detail.status === "unauthorized") session?.signOut(e.detail.detail || "The LightBox refused this token.");
  });
  let reconnects = 0;
  live.addEventListener("hello", (e) => {
    if (e.detail.info) store.set("info", e.detail.info);
    if (e.detail.state) store.setState(e.detail.state, { force: true });
    // After a reconnect we may have missed change notices: fetch the lists again.
    if (reconnects++ > 0) store.loadAll(LIST_TOPICS);
  });
  live.addEventListener("state", (e) => store.setState(e.detail));
  live.addEventListener("info", (e) => store.set("info", e.detail));
  live.addEventListener("changed", (e) => {
    const topic = e.detail;
    if (topic === "settings") store.load("info");
    store.load(topic);
  });
  store.on("info", (info) => {
    if (!info) return;
    $("device-name").textContent = info.name;
    document.title = `${info.name} · LightBox`;
  });

  for (const [name, mount] of Object.entries(VIEWS)) session.views[name] = mount($(`view-${name}`), session);
  $("nav").hidden = false;
  document.body.classList.remove("no-nav");
  route();
  live.start();
  store.loadAll(["info", "state", ...LIST_TOPICS]).then(() => {
    for (const key of ["catalog", "state"]) {
      if (store.errors[key]) toast(`Could not load ${key}: ${store.errors[key].detail}`, { error: true });
    }
  });
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("sw.js", { scope: "./" }).catch((err) => {
    console.warn("service worker not registered:", err);
  });
}

addEventListener("hashchange", () => {
  const given = takeFromAddress();
  if (given.token) {
    saveToken(given.token);
    location.reload(); // start afresh with this token (the address no longer holds it)
  } else if (given.pair) {
    askForToken(null, given.pair);
  } else {
    route();
  }
});
/**
 * Secrets handed over in the address: `#token=...` (printed by `make demo`) or
 * `#pair=...` (the URL of Bluetooth set-up). Read once, then removed from the address
 * bar and history. A fragment never reaches the server or its logs.
 */
function takeFromAddress() {
  const hash = location.hash;
  if (!hash.startsWith("#") || hash.startsWith("#/")) return {};
  const params = new URLSearchParams(hash.slice(1));
  const found = { token: params.get("token"), pair: params.get("pair") };
  if (found.token || found.pair) history.replaceState(null, "", location.pathname + location.search);
  return found;
}

addEventListener("DOMContentLoaded", () => {
  registerServiceWorker();
  const given = takeFromAddress();
  if (given.token) saveToken(given.token);
  const token = loadToken();
  if (given.pair) askForToken(null, given.pair);
  else if (token) start(token);
  else askForToken();
});

// Keep "retrying in N s" counting down.
setInterval(() => {
  if (session?.live.status === "offline") showConnection({ status: "offline", retryAt: session.live.retryAt });
}, 1000);
