// The fleet dashboard: sign up / sign in, claim, the device list (online, last seen,
// version), and one device's controls. The controls are the LightBox web app's own view
// (/app/js/views/control.js), given a DeviceApi that goes through the cloud relay.
// A device's state is polled every POLL_MS (GET /devices/{id}/state), presence with it.
// Fleet parts (js/fleet.js): the fleet summary and, for admins, releases and rollouts on
// the list page; synced state, telemetry charts and update status on a device page.

import { busy, h, replace, showError, toast } from "/app/js/dom.js";
import { Store } from "/app/js/store.js";
import { mountControlView } from "/app/js/views/control.js";
import { CloudApi, CloudLive, DeviceApi } from "./cloud-api.js";
import { deviceInsights, fleetSummary, releasesSection } from "./fleet.js";

const POLL_MS = 2000;
const LIST_POLL_MS = 5000;
const SYNC_POLL_MS = 5000;
const TELEMETRY_POLL_MS = 60000;

const cloud = new CloudApi({ onSignedOut: () => showAuth("Your session ended: please sign in again.") });
let timers = [];
let current = null;

const $ = (id) => document.getElementById(id);

function showOnly(id) {
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== id;
  $("sign-out").hidden = !cloud.signedIn;
}

function stopPolling() {
  for (const t of timers) clearInterval(t);
  timers = [];
  current = null;
}

function when(iso) {
  if (!iso) return "never";
  const d = new Date(iso);
  return d.toLocaleString();
}

// -- signing in ----------------------------------------------------------------------

function authForm(kind) {
  const id = `${kind}-`;
  const email = h("input", { id: `${id}email`, type: "email", name: "email", autocomplete: "email", required: true });
  const password = h("input", { id: `${id}password`, type: "password", name: "password", autocomplete: kind === "signup" ? "new-password" : "current-password", required: true, minlength: kind === "signup" ? 8 : 1 });
  const submit = h("button", { type: "submit", class: "btn primary block" }, kind === "signup" ? "Create account" : "Sign in");
  const form = h("form", { class: "card", id: `${kind}-form`, novalidate: true },
    h("h2", {}, kind === "signup" ? "New here? Sign up" : "Sign in"),
    h("div", { class: "field", "data-field": "email" }, h("label", { for: `${id}email` }, "E-mail"), email, h("p", { class: "field-error error" })),
    h("div", { class: "field", "data-field": "password" }, h("label", { for: `${id}password` }, "Password"), password, h("p", { class: "field-error error" })),
    h("div", { class: "form-error error", role: "alert" }),
    submit);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      if (kind === "signup") await cloud.signup(email.value, password.value);
      await cloud.login(email.value, password.value);
      localStorage.setItem("lightbox.cloud.email", email.value);
      location.hash = "#/devices";
      route();
    }, form);
  });
  return form;
}

function showAuth(message = null) {
  stopPolling();
  showOnly("view-auth");
  $("account").textContent = "";
  replace($("view-auth"),
    h("h2", { id: "auth-title", class: "visually-hidden" }, "Account"),
    message ? h("p", { class: "card error", role: "alert" }, message) : null,
    h("div", { class: "auth-forms" }, authForm("login"), authForm("signup")));
}

// -- the device list -------------------------------------------------------------------

function deviceRow(d) {
  return h("li", {},
    h("a", { href: `#/device/${encodeURIComponent(d.device_id)}`, "data-device": d.device_id },
      h("span", {}, h("strong", {}, d.name), h("br"), h("span", { class: "muted" }, d.device_id)),
      h("span", {},
        h("span", { class: "device-online", "data-online": String(d.online) }, d.online ? "Online" : "Offline"),
        h("br"),
        h("span", { class: "muted device-seen" }, `last seen ${when(d.last_seen_at)}`),
        h("br"),
        h("span", { class: "muted device-version" }, `version ${d.version}`))));
}

async function showDevices() {
  stopPolling();
  showOnly("view-devices");
  const list = h("ul", { class: "devices", id: "devices", "aria-label": "Your devices" });
  const empty = h("p", { class: "muted", id: "no-devices", hidden: true }, "No devices yet: claim one with the code on its matrix.");
  const code = h("input", { id: "claim-code", name: "code", autocomplete: "off", placeholder: "K7P-2QX", required: true });
  const submit = h("button", { type: "submit", class: "btn primary" }, "Claim");
  const form = h("form", { class: "card", id: "claim-form", novalidate: true },
    h("h2", {}, "Claim a LightBox"),
    h("div", { class: "field", "data-field": "code" }, h("label", { for: "claim-code" }, "Code shown on the matrix"), code, h("p", { class: "field-error error" })),
    h("div", { class: "form-error error", role: "alert" }),
    submit);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      const device = await cloud.claim(code.value);
      code.value = "";
      toast(`Claimed ${device.name}`);
      await refresh();
    }, form);
  });
  const fleet = fleetSummary(cloud);
  replace($("view-devices"), h("h2", { id: "devices-title" }, "Your devices"), fleet.card, form, h("div", { class: "card" }, list, empty));
  const view = $("view-devices");
  delete view.dataset.admin;

  async function refresh() {
    fleet.refresh();
    try {
      const devices = await cloud.devices();
      replace(list, ...devices.map(deviceRow));
      empty.hidden = devices.length > 0;
    } catch (err) {
      if (err.status !== 401) toast(err.detail || err.message, { error: true });
    }
  }
  await refresh();
  timers.push(setInterval(refresh, LIST_POLL_MS));
  // admins only: the API answers 403 to everyone else, and the section is not added
  const started = timers;
  try {
    const admin = await releasesSection(cloud);
    if (timers === started) view.dataset.admin = String(Boolean(admin));
    if (admin && timers === started && !view.hidden) {
      view.append(admin.section);
      timers.push(setInterval(admin.refresh, LIST_POLL_MS));
    }
  } catch (err) {
    if (err.status !== 401) toast(err.detail || err.message, { error: true });
  }
}

// -- one device ------------------------------------------------------------------------

async function showDevice(deviceId) {
  stopPolling();
  showOnly("view-device");
  const presence = $("device-presence");
  const api = new DeviceApi(cloud, deviceId, { afterCommand: () => setTimeout(poll, 150) });
  const store = new Store(api);
  const live = new CloudLive();
  const session = { api, store, live, views: {} };
  current = deviceId;

  store.on("info", (info) => {
    if (!info) return;
    $("device-title").textContent = info.name;
    document.title = `${info.name} · LightBox cloud`;
  });
  const view = mountControlView($("view-control"), session);
  view.show();
  const insights = deviceInsights(cloud, deviceId);
  let extra = $("device-insights");
  if (!extra) {
    extra = h("div", { id: "device-insights" });
    $("view-device").append(extra);
  }
  replace(extra, ...insights.cards);

  async function poll() {
    if (current !== deviceId) return;
    const device = await store.load("info");
    if (device) {
      presence.dataset.online = String(device.online);
      presence.textContent = device.online ? "Online" : "Offline";
    }
    await store.load("state");
  }
  await Promise.all([store.load("catalog"), poll(), insights.loadAll()]);
  if (store.errors.state && store.errors.state.status !== 404) {
    toast(`Could not load the state: ${store.errors.state.detail}`, { error: true });
  }
  timers.push(setInterval(poll, POLL_MS),
    setInterval(() => { if (current === deviceId) insights.loadSync(); }, SYNC_POLL_MS),
    setInterval(() => { if (current === deviceId) { insights.loadTelemetry(); insights.loadUpdates(); } }, TELEMETRY_POLL_MS));
}

// -- start-up --------------------------------------------------------------------------

async function route() {
  if (!cloud.signedIn) return showAuth();
  $("account").textContent = localStorage.getItem("lightbox.cloud.email") || "";
  const match = location.hash.match(/^#\/device\/(.+)$/);
  if (match) return showDevice(decodeURIComponent(match[1]));
  return showDevices();
}

$("sign-out").addEventListener("click", async () => {
  await cloud.logout();
  localStorage.removeItem("lightbox.cloud.email");
  location.hash = "";
  showAuth();
});
addEventListener("hashchange", route);
route().catch((err) => showError(document.body, err));
