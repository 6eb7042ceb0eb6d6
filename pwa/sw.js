// Porchlight's service worker: the app shell offline, push notifications with actions.
//
// The server fills in VERSION (a digest of the app's files, so any change installs a
// new worker) and SHELL (every file of the app shell). API responses, upload links
// and footage are never cached: they go to the network or fail.

const VERSION = "__VERSION__";
const SHELL = __SHELL__;
const CACHE = `porchlight-shell-${VERSION}`;
const OFFLINE_PAGE = "/offline.html";

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("porchlight-") && name !== CACHE) {
        await caches.delete(name);
      }
    }
    await self.clients.claim();
  })());
});

function isShellAsset(url) {
  return url.origin === self.location.origin
    && (url.pathname.startsWith("/app/") || url.pathname === "/manifest.webmanifest" || url.pathname === OFFLINE_PAGE);
}

async function fromShell(request) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request, { ignoreSearch: true });
  if (hit) {
    return hit;
  }
  return fetch(request);
}

async function navigation(request) {
  const url = new URL(request.url);
  try {
    return await fetch(request);
  } catch (error) {
    const cache = await caches.open(CACHE);
    // The app's own start page works offline; other pages say why they cannot load.
    if (url.pathname === "/") {
      const shell = await cache.match("/");
      if (shell) {
        return shell;
      }
    }
    return (await cache.match(OFFLINE_PAGE)) || Response.error();
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") {
    return;
  }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    return; // map tiles and the like: the browser's own cache rules
  }
  if (request.mode === "navigate") {
    event.respondWith(navigation(request));
  } else if (isShellAsset(url)) {
    event.respondWith(fromShell(request));
  }
  // Everything else (the API, clips, upload links) goes to the network untouched.
});

// --- push --------------------------------------------------------------------------------

function askUrl(data) {
  return data && data.ask_id ? `/#/asks/${data.ask_id}` : "/#/inbox";
}

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: "Porchlight", body: event.data ? event.data.text() : "" };
  }
  const actions = data.actions && Object.keys(data.actions).length
    ? [{ action: "approve", title: "Approve" }, { action: "decline", title: "Decline" }]
    : [];
  event.waitUntil(self.registration.showNotification(data.title || "Porchlight", {
    body: data.body || "",
    tag: data.tag || undefined,
    renotify: Boolean(data.tag),
    requireInteraction: data.type === "footage_request",
    icon: "/app/icons/icon-192.png",
    badge: "/app/icons/badge-96.png",
    timestamp: Date.now(),
    data,
    actions,
  }));
});

async function openOrFocus(path) {
  const target = new URL(path, self.location.origin).href;
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (new URL(client.url).origin === self.location.origin && "focus" in client) {
      try {
        await client.focus();
      } catch {
        // Only a real tap on the notification may focus a window; navigate it anyway.
      }
      if ("navigate" in client) {
        return client.navigate(target);
      }
      client.postMessage({ type: "open", url: path });
      return client;
    }
  }
  return self.clients.openWindow(target);
}

async function answerFromNotification(data, action) {
  const link = data.actions && data.actions[action];
  let ok = false;
  let message = "";
  try {
    const response = await fetch(link, { method: "POST", headers: { Accept: "application/json" } });
    ok = response.ok;
    if (!ok) {
      const body = await response.json().catch(() => null);
      message = body && body.error ? body.error.message : `The answer was not recorded (HTTP ${response.status}).`;
    }
  } catch {
    message = "You are offline: the answer was not sent. Open the request to answer it.";
  }
  for (const client of await self.clients.matchAll({ type: "window" })) {
    client.postMessage({ type: "ask-answered", ask_id: data.ask_id, action, ok });
  }
  if (ok && action === "approve") {
    // Approved: the owner's next step is choosing the clip.
    return openOrFocus(askUrl(data));
  }
  return self.registration.showNotification(ok ? "Answer sent" : "Answer not sent", {
    body: ok ? "You declined this request. Nothing will be shared." : message,
    tag: data.tag || undefined,
    icon: "/app/icons/icon-192.png",
    data: { ...data, actions: {}, answered: ok ? action : null },
  });
}

// What a tap on a notification (or one of its buttons) does. A named function so that
// browser tests can run it in the worker: a test cannot tap a system notification.
function handleNotificationClick(notification, action) {
  const data = notification.data || {};
  notification.close();
  if (action === "approve" || action === "decline") {
    return answerFromNotification(data, action);
  }
  return openOrFocus(askUrl(data));
}

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(handleNotificationClick(event.notification, event.action));
});

function urlBase64ToUint8Array(base64) {
  const padded = (base64 + "=".repeat((4 - (base64.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil((async () => {
    const old = event.oldSubscription;
    const response = await fetch("/api/push/vapid-public-key", { headers: { Accept: "application/json" } });
    const { public_key: key } = await response.json();
    const subscription = event.newSubscription || await self.registration.pushManager.subscribe({
      userVisibleOnly: true, applicationServerKey: urlBase64ToUint8Array(key),
    });
    await fetch("/api/push/subscriptions", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(subscription.toJSON()),
    });
    if (old && old.endpoint !== subscription.endpoint) {
      await fetch("/api/push/subscriptions", {
        method: "DELETE",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ endpoint: old.endpoint }),
      });
    }
  })());
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "skip-waiting") {
    event.waitUntil(self.skipWaiting());
  }
});
