// Registers the one service worker (/sw.js: the offline shell and push notifications) for
// every page that wants it: the app, the enrollment page and the push settings.

// The registration, or null where the browser has no service workers or refused it.
export async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) {
    return null;
  }
  try {
    return await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch (error) {
    console.warn("Service worker not registered:", error);
    return null;
  }
}
