// LightBox service worker: keeps the app shell so the app opens (and installs) even when
// the network is flaky. Shell files are network-first (a LightBox on the LAN answers fast,
// and an updated LightBox must never be hidden behind an old copy), falling back to the
// cache. The API is never touched: its requests go straight to the network, uncached.

const CACHE = "lightbox-shell-v1";
const NETWORK_TIMEOUT_MS = 4000;

// Every file of the app (a test checks this list against the directory).
const SHELL = [
  "./",
  "index.html",
  "manifest.webmanifest",
  "css/app.css",
  "icons/icon.svg",
  "icons/icon-192.png",
  "icons/icon-512.png",
  "icons/icon-maskable-512.png",
  "icons/apple-touch-icon.png",
  "js/api.js",
  "js/app.js",
  "js/dom.js",
  "js/live.js",
  "js/preview.js",
  "js/sender.js",
  "js/store.js",
  "js/scenes/clock.js",
  "js/scenes/describe.js",
  "js/scenes/effect.js",
  "js/scenes/media.js",
  "js/scenes/text.js",
  "js/views/control.js",
  "js/views/playlists.js",
  "js/views/presets.js",
  "js/views/schedules.js",
  "js/views/settings.js",
  "js/views/token.js",
  "js/views/tokens.js",
];
const SHELL_URLS = new Set(SHELL.map((path) => new URL(path, self.registration.scope).href));

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((path) => new Request(path, { cache: "no-cache" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((key) => key.startsWith("lightbox-") && key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/")) return; // the API: network only, never cached
  // Only the app's own files; anything else (/docs, /openapi.json...) is left alone.
  if (SHELL_URLS.has(url.origin + url.pathname)) event.respondWith(networkFirst(request));
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetchWithTimeout(request, NETWORK_TIMEOUT_MS);
    if (response.ok && response.type === "basic") await cache.put(request, response.clone());
    return response;
  } catch (err) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    throw err;
  }
}

function fetchWithTimeout(request, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("network timeout")), ms);
    fetch(request).then(
      (response) => { clearTimeout(timer); resolve(response); },
      (err) => { clearTimeout(timer); reject(err); },
    );
  });
}
