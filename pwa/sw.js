// Porchlight's service worker: the app shell offline, push notifications with actions.
//
// The server fills in VERSION (a digest of the app's files, so any change installs a
// new worker) and SHELL (every file of the app shell). API responses, upload links
// and footage are never cached: they go to the network or fail.

const VERSION = "__VERSION__";
const SHELL = __SHELL__;
const CACHE = `porchlight-shell-${VERSION}`;
const OFFLINE_PAGE = "/offline.html";
// Where the pages keep the owner's language (pwa/js/i18n.js): the worker's own texts
// ("Answer sent", the Approve button) follow it, or the push message's own `language`.
const PREFERENCES = "porchlight-preferences";

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
      if (name.startsWith("porchlight-") && name !== CACHE && name !== PREFERENCES) {
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

// The shell cache holds one response per URL. Ignore Vary: the server varies its text
// files on Accept-Encoding (gzip), a header the stored and the asking requests may not
// carry alike, and the body kept is the decoded one either way.
const SHELL_MATCH = { ignoreSearch: true, ignoreVary: true };

async function fromShell(request) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request, SHELL_MATCH);
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
      const shell = await cache.match("/", SHELL_MATCH);
      if (shell) {
        return shell;
      }
    }
    return (await cache.match(OFFLINE_PAGE, SHELL_MATCH)) || Response.error();
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

// --- the owner's language ----------------------------------------------------------------

let words = { language: "en", messages: {} };

// Loads the catalog of `language` (the push message's), else of the pages' last language,
// from the app shell; English when neither is known or the catalog is missing.
async function loadWords(language) {
  let code = language;
  try {
    if (!code) {
      const stored = await (await caches.open(PREFERENCES)).match("/language");
      code = stored ? (await stored.text()).trim() : "en";
    }
    if (code === words.language) {
      return;
    }
    const cached = code === "en" ? null : await fromShell(new Request(`/app/i18n/${code}.json`));
    words = cached && cached.ok ? await cached.json() : { language: "en", messages: {} };
  } catch {
    words = { language: "en", messages: {} };
  }
}

function t(msgid, vars) {
  const text = words.messages[msgid] || msgid;
  return text.replace(/%\((\w+)\)s/g, (whole, name) => (vars && name in vars ? String(vars[name]) : whole));
}

// --- push --------------------------------------------------------------------------------

// A request that ended (withdrawn, expired) has nothing left to answer: its notice opens the inbox.
const CLOSED = "footage_request_closed";
// What a push that says nothing readable shows.
const DEFAULT_TITLE = "Porchlight";

// What became of a clip the owner shared (first opened, held, released, deleted): it opens the History.
const FATE = "clip_fate";

function askUrl(data) {
  if (data && data.type === FATE) {
    return "/#/history";
  }
  return data && data.ask_id && data.type !== CLOSED ? `/#/asks/${data.ask_id}` : "/#/inbox";
}

// What a push carries, as an object whatever arrived: the server sends JSON objects, but
// an empty, non-JSON or non-object payload (another sender, a truncated message) must
// still show something. iOS revokes the subscription of an app that receives pushes
// without showing a notification, and Chrome shows a generic one of its own.
function pushData(message) {
  let text = "";
  try {
    text = message ? message.text() : "";
  } catch {
    text = "";
  }
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    return { body: text.slice(0, 200) }; // plain text (or nothing): shown as it came
  }
  if (data && typeof data === "object" && !Array.isArray(data)) {
    return data;
  }
  return { body: typeof data === "string" ? data.slice(0, 200) : "" };
}

async function showPush(data) {
  await loadWords(typeof data.language === "string" ? data.language : undefined);
  const title = typeof data.title === "string" && data.title.trim() ? data.title : DEFAULT_TITLE;
  const body = typeof data.body === "string" && data.body
    ? data.body : t("Open Porchlight to see what is new.");
  // A notice that the request ended takes the ask's tag, so it replaces the request on screen.
  const tag = typeof data.tag === "string" && data.tag ? data.tag : undefined;
  const actions = data.type !== CLOSED && data.type !== FATE && data.actions && typeof data.actions === "object"
    && Object.keys(data.actions).length
    ? [{ action: "approve", title: t("Approve") }, { action: "decline", title: t("Decline") }]
    : [];
  return self.registration.showNotification(title, {
    body,
    tag,
    renotify: Boolean(tag),
    requireInteraction: data.type === "footage_request",
    icon: "/app/icons/icon-192.png",
    badge: "/app/icons/badge-96.png",
    timestamp: Date.now(),
    data,
    actions,
  });
}

// Every push shows a notification, inside waitUntil, whatever it carries: should the full
// one fail (an option this browser refuses), a plain one still shows.
self.addEventListener("push", (event) => {
  event.waitUntil((async () => {
    const data = pushData(event.data);
    try {
      await showPush(data);
    } catch {
      await self.registration.showNotification(DEFAULT_TITLE, {
        body: t("Open Porchlight to see what is new."), icon: "/app/icons/icon-192.png", data: {},
      });
    }
  })());
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
  await loadWords(data.language);
  const link = data.actions && data.actions[action];
  let ok = false;
  let message = "";
  try {
    const response = await fetch(link, { method: "POST", headers: { Accept: "application/json" } });
    ok = response.ok;
    if (!ok) {
      const body = await response.json().catch(() => null);
      message = body && body.error ? body.error.message
        : t("The answer was not recorded (HTTP %(status)s).", { status: response.status });
    }
  } catch {
    message = t("You are offline: the answer was not sent. Open the request to answer it.");
  }
  for (const client of await self.clients.matchAll({ type: "window" })) {
    client.postMessage({ type: "ask-answered", ask_id: data.ask_id, action, ok });
  }
  if (ok && action === "approve") {
    // Approved: the owner's next step is choosing the clip.
    return openOrFocus(askUrl(data));
  }
  return self.registration.showNotification(ok ? t("Answer sent") : t("Answer not sent"), {
    body: ok ? t("You declined this request. Nothing will be shared.") : message,
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
  if ((action === "approve" || action === "decline") && data.type !== CLOSED) {
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
