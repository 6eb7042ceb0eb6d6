// The app shell: session, hash router, navigation, service worker.
//
// Screens live in views/ (see routes.js). The shell loads a screen's module when it
// is first opened, draws it into <main>, moves focus to its heading and names it in
// the title, so keyboard and screen-reader users follow every change of screen. It
// speaks the owner's language (i18n.js): the account's, once signed in.

import { get } from "./api.js";
import { appConfig } from "./config.js";
import { chooseLanguage, language, setLanguage, setTimeZone, t, translatePage } from "./i18n.js";
import { HOME, NAV, ROUTES, SETUP_NAV, TWO_STEP } from "./routes.js";
import { registerServiceWorker } from "./service-worker.js";
import { announce, errorCard, h, loading, replace } from "./ui.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");

const session = {
  user: undefined, // undefined: not asked yet; null: signed out
  offline: false,
  notice: "", // a message for the next sign-in screen (e.g. why the session ended)
};

let cleanup = null;
let renderCount = 0;

// --- session -------------------------------------------------------------------------------

// Dates and times are shown in the agency's time zone, whatever the phone's: the zone of
// the account's agency (/api/auth/me), else, signed out, the installation's one agency
// (/api/app-config), else (several agencies, or an owner of agencies in several zones)
// the device's own.
let installationZone = null;

function useZoneOf(user) {
  setTimeZone((user && user.time_zone) || installationZone || undefined);
}

export async function refreshUser() {
  const answer = await get("/api/auth/me");
  if (answer.ok) {
    session.user = answer.data;
    session.offline = false;
    useZoneOf(session.user);
    if (answer.data.language && answer.data.language !== language()) {
      // The account's language; this device remembers it for the pages without an account.
      await setLanguage(answer.data.language, { remember: true });
      translatePage();
    }
  } else if (answer.status === 0) {
    // Offline: keep what we knew; the screen says why it cannot load.
    session.offline = true;
    if (session.user === undefined) {
      session.user = null;
    }
  } else {
    session.user = null;
    session.offline = false;
    useZoneOf(null);
  }
  drawNav();
  return session.user;
}

export async function setUser(user) {
  session.user = user;
  useZoneOf(user);
  if (user && user.language && user.language !== language()) {
    await setLanguage(user.language);
  }
  drawNav();
}

// --- routing -------------------------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = raw.split("?");
  return { path: path || "/", query: new URLSearchParams(search) };
}

function match(path) {
  const parts = path.split("/").filter(Boolean);
  for (const route of ROUTES) {
    const pattern = route.path.split("/").filter(Boolean);
    if (pattern.length !== parts.length) {
      continue;
    }
    const params = {};
    const same = pattern.every((segment, i) => {
      if (segment.startsWith(":")) {
        params[segment.slice(1)] = decodeURIComponent(parts[i]);
        return true;
      }
      return segment === parts[i];
    });
    if (same) {
      return { route, params };
    }
  }
  return null;
}

export function navigate(path, { replace: replaceEntry = false } = {}) {
  const target = `#${path}`;
  if (location.hash === target) {
    render();
  } else if (replaceEntry) {
    history.replaceState(null, "", target);
    render();
  } else {
    location.hash = target;
  }
}

export function homeFor(user) {
  return user ? HOME[user.role] || "/" : "/";
}

// An officer or supervisor who has not set up two-step sign-in yet: the API refuses
// them everything else, so the app shows nothing else.
function setupPending(user) {
  return Boolean(user && user.second_factor && user.second_factor.setup_required);
}

function drawNav() {
  const user = session.user;
  const items = setupPending(user) ? SETUP_NAV : NAV[user ? user.role : "anonymous"] || [];
  const current = parseHash().path;
  replace(nav, h("ul", items.map(([path, text]) => h("li",
    h("a", { href: `#${path}`, "aria-current": current === path ? "page" : null }, t(text))))));
}

function notFound() {
  return h("section",
    h("h1", { tabindex: "-1" }, t("Page not found")),
    h("p", t("There is nothing at this address.")),
    h("p", h("a.button", { href: `#${homeFor(session.user)}` }, t("Go to the start"))));
}

function notForRole(user) {
  return h("section",
    h("h1", { tabindex: "-1" }, t("Not available to your account")),
    h("p", t("This screen is not for your kind of account.")),
    h("p", h("a.button", { href: `#${homeFor(user)}` }, t("Go to your start page"))));
}

function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading) {
    if (!heading.hasAttribute("tabindex")) {
      heading.setAttribute("tabindex", "-1");
    }
    heading.focus({ preventScroll: true });
  } else {
    main.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
}

export async function render() {
  const ticket = ++renderCount;
  if (cleanup) {
    try { cleanup(); } catch { /* a screen's cleanup must not stop the next one */ }
    cleanup = null;
  }
  const { path, query } = parseHash();
  drawNav();
  const found = match(path);
  if (!found) {
    replace(main, notFound());
    document.title = `${t("Page not found")} · Porchlight`;
    focusHeading();
    return;
  }
  const { route, params } = found;
  // The screen's code loads while the session is asked for (one round trip instead of two
  // before the screen can draw); a screen the visitor may not open is simply not used.
  const loadView = import(route.module);
  loadView.catch(() => {}); // a failure is handled where the view is awaited
  if (session.user === undefined) {
    replace(main, loading());
    await refreshUser();
  }
  const user = session.user;
  if (setupPending(user) && path !== TWO_STEP) {
    const wanted = path === "/" || path === "/signin" ? query.get("next") || homeFor(user)
      : path + (query.toString() ? `?${query}` : "");
    navigate(`${TWO_STEP}?next=${encodeURIComponent(wanted)}`, { replace: true });
    return;
  }
  if (route.roles && !user) {
    if (session.offline) {
      replace(main, offlineNotice());
      focusHeading();
      return;
    }
    const next = encodeURIComponent(path + (query.toString() ? `?${query}` : ""));
    navigate(`/signin?next=${next}`, { replace: true });
    return;
  }
  if (route.roles && !route.roles.includes(user.role)) {
    replace(main, notForRole(user));
    focusHeading();
    return;
  }
  replace(main, loading());
  let view;
  try {
    view = (await loadView).default;
  } catch (error) {
    console.error(error);
    replace(main, session.offline || !navigator.onLine ? offlineNotice() : errorCard({
      message: t("This screen could not be loaded. Reload the page to try again."),
    }));
    focusHeading();
    return;
  }
  const ctx = {
    params, query, user, session, navigate, refreshUser, setUser, homeFor, announce,
    // True while this screen is still the one shown (async work checks it before drawing).
    get current() { return ticket === renderCount; },
  };
  let result;
  try {
    result = await view.render(ctx);
  } catch (error) {
    console.error(error);
    result = errorCard({ message: t("Something went wrong on this screen. Reload the page to try again.") });
  }
  if (ticket !== renderCount) {
    // Another screen was opened while this one loaded.
    if (result && typeof result.cleanup === "function") {
      result.cleanup();
    }
    return;
  }
  const node = result instanceof Node ? result : result && result.node;
  cleanup = result && typeof result.cleanup === "function" ? result.cleanup : null;
  replace(main, node || "");
  document.title = `${view.title ? t(view.title) : "Porchlight"} · Porchlight`;
  focusHeading();
}

function offlineNotice() {
  return h("section",
    h("h1", { tabindex: "-1" }, t("You are offline")),
    h("p", t("Porchlight needs a connection to load this screen. It will work again as soon as you are back online.")),
    h("button", { type: "button", onclick: () => { session.user = undefined; render(); } }, t("Try again")));
}

// --- start -----------------------------------------------------------------------------------

function upgradeLegacyLinks() {
  // Notifications and SMS link to /?ask=<id>: open that ask's screen.
  const params = new URLSearchParams(location.search);
  const ask = params.get("ask");
  if (location.pathname === "/" && ask && /^\d+$/.test(ask)) {
    history.replaceState(null, "", `/#/asks/${ask}`);
  }
}

async function start() {
  upgradeLegacyLinks();
  // Before the account is known: this device's choice, else the browser's languages.
  await setLanguage(chooseLanguage(null));
  translatePage(); // the shell's own texts in index.html (the skip link)
  // The screens that show times read the same answer, after this.
  appConfig().then((answer) => {
    installationZone = answer.ok ? answer.data.time_zone : null;
    useZoneOf(session.user);
  });
  window.addEventListener("porchlight:language", () => render());
  window.addEventListener("hashchange", render);
  window.addEventListener("porchlight:signed-out", (event) => {
    if (event.detail) {
      session.notice = event.detail; // why: shown on the sign-in screen
    }
    if (session.user) {
      session.user = null;
      useZoneOf(null);
      render();
    }
  });
  navigator.serviceWorker?.addEventListener("message", (event) => {
    // The service worker answered from a notification: redraw what the owner sees.
    if (event.data && event.data.type === "ask-answered") {
      render();
    } else if (event.data && event.data.type === "open" && event.data.url) {
      location.assign(event.data.url);
    }
  });
  window.addEventListener("porchlight:setup-required", () => {
    // The API refused a screen's call until two-step sign-in is set up: ask who we are again.
    session.user = undefined;
    render();
  });
  window.addEventListener("online", () => { if (session.offline) { session.user = undefined; render(); } });
  await render();
  registerServiceWorker();
}

start();
