// Web Push for this device: ask permission, subscribe with the server's VAPID key,
// register the subscription with the server, and undo it.
//
// Permission is asked only when the owner presses a button that says why (after adding
// a camera, or in Settings): never on page load. Safari on iOS grants it only from a tap,
// and nothing here asks or subscribes except enablePush, which only a button's click runs.
//
// States (pushState): "install" (an iPhone or iPad in a browser tab: push needs the app on
// the Home Screen, ios-install.js), "unsupported" (no service worker / Push API here), "denied"
// (the owner blocked notifications for this site), "enabled" (this device's
// subscription is registered with the server), "disabled" (not yet, or turned off).

import { del, get, post } from "./api.js";
import { TEXTS as HOME_SCREEN, needsHomeScreen } from "./ios-install.js";
import { registerServiceWorker } from "./service-worker.js";
import { t } from "./i18n.js";

const ENDPOINT_KEY = "porchlight.push.endpoint";

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window
    && window.isSecureContext !== false;
}

function urlBase64ToUint8Array(base64) {
  const padded = (base64 + "=".repeat((4 - (base64.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function storedEndpoint() {
  try {
    return localStorage.getItem(ENDPOINT_KEY);
  } catch {
    return null;
  }
}

function storeEndpoint(endpoint) {
  try {
    if (endpoint) {
      localStorage.setItem(ENDPOINT_KEY, endpoint);
    } else {
      localStorage.removeItem(ENDPOINT_KEY);
    }
  } catch {
    // private mode: the state is read from the browser's subscription instead
  }
}

// The service worker registration, or null when it is not ready within `ms`.
async function registration(ms = 10000) {
  if (!("serviceWorker" in navigator)) {
    return null;
  }
  if (!navigator.serviceWorker.controller && !(await navigator.serviceWorker.getRegistration("/"))
      && !(await registerServiceWorker())) {
    return null;
  }
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(null), ms); });
  const ready = await Promise.race([navigator.serviceWorker.ready, timeout]);
  clearTimeout(timer);
  return ready;
}

async function browserSubscription(reg) {
  try {
    return reg ? await reg.pushManager.getSubscription() : null;
  } catch {
    return null;
  }
}

// {state, message}: where push stands on this device.
export async function pushState() {
  if (needsHomeScreen()) {
    return { state: "install", message: t(HOME_SCREEN.status) };
  }
  if (!pushSupported()) {
    return { state: "unsupported", message: t("This browser cannot show push notifications.") };
  }
  if (Notification.permission === "denied") {
    return { state: "denied", message: t("Notifications are blocked for Porchlight in this browser’s settings.") };
  }
  const reg = await registration(3000);
  const subscription = await browserSubscription(reg);
  const endpoint = (subscription && subscription.endpoint) || storedEndpoint();
  if (!endpoint || Notification.permission !== "granted") {
    return { state: "disabled", message: t("Push notifications are off on this device.") };
  }
  const known = await get("/api/push/subscriptions");
  if (known.ok && known.data.some((s) => s.endpoint === endpoint)) {
    return { state: "enabled", message: t("Push notifications are on for this device.") };
  }
  if (!known.ok && known.status === 0) {
    return { state: "unknown", message: t("Offline: whether push is on cannot be checked now.") };
  }
  return { state: "disabled", message: t("Push notifications are off on this device.") };
}

// Asks permission (the caller runs this from a button press), subscribes and tells the
// server. Resolves to {ok, state, message}.
export async function enablePush() {
  if (needsHomeScreen()) {
    return { ok: false, state: "install", message: t(HOME_SCREEN.status) };
  }
  if (!pushSupported()) {
    return { ok: false, state: "unsupported",
      message: t("This browser cannot show push notifications. Verify your mobile number in Settings to get text messages instead.") };
  }
  let permission = Notification.permission;
  if (permission === "default") {
    try {
      permission = await Notification.requestPermission();
    } catch {
      permission = Notification.permission;
    }
  }
  if (permission !== "granted") {
    return { ok: false, state: permission === "denied" ? "denied" : "disabled",
      message: permission === "denied"
        ? t("Notifications are blocked for Porchlight. Allow them in your browser’s site settings, then try again.")
        : t("Notifications were not allowed. You can turn them on here whenever you like.") };
  }
  const reg = await registration();
  if (!reg) {
    return { ok: false, state: "disabled",
      message: t("The app’s background service is not running yet. Reload the page and try again.") };
  }
  const key = await get("/api/push/vapid-public-key");
  if (!key.ok) {
    return { ok: false, state: "disabled", message: key.error.message };
  }
  let subscription;
  try {
    const applicationServerKey = urlBase64ToUint8Array(key.data.public_key);
    subscription = await browserSubscription(reg);
    if (subscription && subscription.options && subscription.options.applicationServerKey) {
      // Subscribed with another server key (the server's key changed): start again.
      const current = new Uint8Array(subscription.options.applicationServerKey);
      if (current.length !== applicationServerKey.length || current.some((b, i) => b !== applicationServerKey[i])) {
        await subscription.unsubscribe();
        subscription = null;
      }
    }
    if (!subscription) {
      subscription = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey });
    }
  } catch (error) {
    return { ok: false, state: "disabled",
      message: t("This browser could not subscribe to push notifications (%(error)s). ", { error: error && error.name ? error.name : "error" })
        + t("Verify your mobile number in Settings to get text messages instead.") };
  }
  const body = typeof subscription.toJSON === "function" ? subscription.toJSON() : subscription;
  const saved = await post("/api/push/subscriptions", body);
  if (!saved.ok) {
    return { ok: false, state: "disabled", message: saved.error.message };
  }
  storeEndpoint(body.endpoint);
  return { ok: true, state: "enabled", message: t("Push notifications are on for this device.") };
}

export async function disablePush() {
  const reg = await registration(3000);
  const subscription = await browserSubscription(reg);
  const endpoint = (subscription && subscription.endpoint) || storedEndpoint();
  if (endpoint) {
    const removed = await del("/api/push/subscriptions", { endpoint });
    if (!removed.ok && removed.status !== 404) {
      return { ok: false, state: "enabled", message: removed.error.message };
    }
  }
  if (subscription) {
    try {
      await subscription.unsubscribe();
    } catch {
      // the server no longer sends to it either way
    }
  }
  storeEndpoint(null);
  return { ok: true, state: "disabled", message: t("Push notifications are off on this device.") };
}
