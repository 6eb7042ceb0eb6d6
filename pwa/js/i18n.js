// The owner's language: the words of every screen, and dates, times and numbers.
//
// Texts are written in English in the code, wrapped in t() (or tn() for a count), and
// translated from the JSON catalogs the server builds from app/translations/<lang>/
// LC_MESSAGES/pwa.po (app/pwa_i18n.py; docs/TRANSLATIONS-PWA.md). Placeholders are
// gettext's: t("Case %(number)s", {number}). N_() only marks a text for the catalogs
// where it is defined (routes, titles) and t() translates it where it is shown.
//
// Which language: the account's saved one, else the choice made on a signed-out screen
// (localStorage), else the browser's best match (navigator.languages), else English.
// <html lang> always says which.
//
// Hmong (hmn: White Hmong, RPA Latin script): browsers' Intl has no Hmong data and
// would answer in English (or not at all), so its dates are numeric with a 24-hour clock
// ("11/12/2026 21:40"), its numbers plain digits, and its relative times come from the
// catalog like any other text.

export const LANGUAGES = [
  { code: "en", name: "English" },
  { code: "es", name: "Español" },
  { code: "hmn", name: "Hmoob" },
];
const CODES = LANGUAGES.map((language) => language.code);
const STORED = "porchlight.language";
// The service worker reads the language from here for its own notifications.
const PREFERENCES_CACHE = "porchlight-preferences";

let current = "en";
let catalog = { nplurals: 2, messages: {} };
let zone; // the agency's time zone (app.js: /api/auth/me's, else /api/app-config's), else the device's

export function language() {
  return current;
}

// Only marks `text` for the catalogs: t(text) translates it where it is shown.
export function N_(text) {
  return text;
}

function fill(text, vars) {
  if (!vars) {
    return text;
  }
  return text.replace(/%\((\w+)\)s/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

export function t(msgid, vars) {
  const translated = catalog.messages[msgid];
  return fill(typeof translated === "string" && translated ? translated : msgid, vars);
}

// The gettext form index of `n`: Hmong has one form; English and Spanish two ("one" and the rest).
function pluralIndex(n) {
  if (catalog.nplurals === 1) {
    return 0;
  }
  const rule = new Intl.PluralRules(current === "hmn" ? "en" : current).select(n);
  return rule === "one" ? 0 : 1;
}

// tn("%(count)s request", "%(count)s requests", n): `count` is filled in with n unless vars say otherwise.
export function tn(singular, plural, n, vars) {
  const forms = catalog.messages[singular];
  const values = { count: formatNumber(n), ...vars };
  if (Array.isArray(forms) && forms.every(Boolean)) {
    return fill(forms[Math.min(pluralIndex(n), forms.length - 1)], values);
  }
  return fill(n === 1 ? singular : plural, values);
}

// A translated sentence with elements where its placeholders stand, for h():
// withElements(t("Checked %(when)s."), { when: time(iso) }). t() leaves a placeholder it has
// no value for as it is, so the translator still sees, and may move, the whole sentence.
export function withElements(text, elements) {
  return text.split(/(%\(\w+\)s)/).filter(Boolean).map((part) => {
    const name = /^%\((\w+)\)s$/.exec(part)?.[1];
    return name && name in elements ? elements[name] : part;
  });
}

// --- choosing ------------------------------------------------------------------------------

// What this device chose (or the account last used here), or null.
export function storedChoice() {
  try {
    return localStorage.getItem(STORED);
  } catch {
    return null;
  }
}

// The browser's best match among LANGUAGES ("es-MX" → es, "hmn-US" → hmn), else null.
export function browserLanguage(preferred = navigator.languages || [navigator.language]) {
  for (const tag of preferred) {
    const base = String(tag || "").toLowerCase().split("-")[0];
    if (CODES.includes(base)) {
      return base;
    }
  }
  return null;
}

export function chooseLanguage(saved) {
  for (const candidate of [saved, storedChoice(), browserLanguage()]) {
    if (CODES.includes(candidate)) {
      return candidate;
    }
  }
  return "en";
}

async function loadCatalog(code) {
  if (code === "en") {
    return { nplurals: 2, messages: {} };
  }
  try {
    const response = await fetch(`/app/i18n/${code}.json`, { credentials: "same-origin" });
    if (response.ok) {
      return await response.json();
    }
  } catch {
    // Offline before the service worker has the catalog: English until it does.
  }
  return null;
}

// Switches to `code` (loading its catalog) and says so in <html lang>; `remember` keeps a
// signed-out visitor's choice on this device. Resolves to the language now in use.
export async function setLanguage(code, { remember = false } = {}) {
  const wanted = CODES.includes(code) ? code : "en";
  if (remember) {
    try {
      localStorage.setItem(STORED, wanted);
    } catch {
      // Private mode without storage: the choice lasts this page.
    }
  }
  if (wanted !== current || !catalog.language) {
    const loaded = await loadCatalog(wanted);
    if (loaded) {
      catalog = loaded;
      current = wanted;
    }
  }
  document.documentElement.lang = current;
  tellServiceWorker(current);
  return current;
}

function tellServiceWorker(code) {
  // Kept where the worker can read it when a push arrives with no page open.
  if (!self.caches) {
    return;
  }
  caches.open(PREFERENCES_CACHE)
    .then((cache) => cache.put("/language", new Response(code)))
    .catch(() => {});
}

// Translates the text of every element marked data-i18n under `root` (the static pages'
// HTML; app/pwa_i18n.py extracts the same texts).
export function translatePage(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    if (!element.dataset.i18nId) {
      element.dataset.i18nId = element.textContent.replace(/\s+/g, " ").trim();
    }
    element.textContent = t(element.dataset.i18nId);
  }
}

// A <select> of the languages, each named in itself; `onChange(code)` runs on a change.
export function languageSelect(id, onChange) {
  const select = document.createElement("select");
  select.id = id;
  select.name = "language";
  for (const { code, name } of LANGUAGES) {
    const option = document.createElement("option");
    option.value = code;
    option.lang = code;
    option.textContent = name;
    option.selected = code === current;
    select.append(option);
  }
  select.addEventListener("change", () => onChange(select.value));
  return select;
}

// --- dates, times, numbers ---------------------------------------------------------------------

export function setTimeZone(timeZone) {
  try {
    new Intl.DateTimeFormat("en", { timeZone });
    zone = timeZone;
  } catch {
    zone = undefined;
  }
}

// The locale Intl formats in: the language itself, but Hmong's digits and 24-hour clock in
// a numeric-only format ("en-US" with no words in it).
function intlLocale() {
  return current === "hmn" ? "en-US" : current;
}

export function dateTimeFormat(options) {
  if (current === "hmn") {
    // Numbers only: no English month or day names, no AM/PM.
    const numeric = {};
    if (options.dateStyle || options.year || options.month || options.day) {
      Object.assign(numeric, { year: "numeric", month: "numeric", day: "numeric" });
    }
    if (options.timeStyle || options.hour) {
      Object.assign(numeric, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    }
    if (options.month === "long" && !options.day) {
      delete numeric.day;
    }
    return new Intl.DateTimeFormat("en-US", { ...numeric, timeZone: options.timeZone || zone });
  }
  return new Intl.DateTimeFormat(intlLocale(), { timeZone: zone, ...options });
}

export function formatNumber(value, options) {
  return new Intl.NumberFormat(intlLocale(), options).format(value);
}

// "in 3 hours", "5 minutes ago": Intl for English and Spanish, the catalog for Hmong.
export function formatRelative(value, unit) {
  if (current !== "hmn") {
    return new Intl.RelativeTimeFormat(current, { numeric: "auto" }).format(value, unit);
  }
  const n = Math.abs(value);
  const future = value >= 0;
  if (unit === "minute") {
    return future ? tn("in %(count)s minute", "in %(count)s minutes", n)
      : tn("%(count)s minute ago", "%(count)s minutes ago", n);
  }
  if (unit === "hour") {
    return future ? tn("in %(count)s hour", "in %(count)s hours", n)
      : tn("%(count)s hour ago", "%(count)s hours ago", n);
  }
  return future ? tn("in %(count)s day", "in %(count)s days", n)
    : tn("%(count)s day ago", "%(count)s days ago", n);
}
