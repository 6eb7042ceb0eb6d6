// Small DOM and formatting helpers shared by every screen.
//
// Screens build their DOM with h() rather than innerHTML, so text from the API is
// never parsed as markup. Dates, times and numbers come out in the owner's language
// (i18n.js), in the agency's time zone when the server names one.

import { dateTimeFormat, formatNumber, formatRelative, languageSelect, setLanguage, t } from "./i18n.js";

// h("p.hint", {id: "x"}, "text", child, ...) → element. Attributes starting with "on"
// are event listeners; `class`, `for`, `hidden`, `dataset` and aria-* work as expected;
// false, null and undefined children and attributes are skipped.
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split(".");
  const element = document.createElement(name || "div");
  if (classes.length) {
    element.className = classes.join(" ");
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) {
      continue;
    }
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      element.className = [element.className, value].filter(Boolean).join(" ");
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else if (key in element && !key.startsWith("aria-") && key !== "list" && key !== "form") {
      element[key] = value;
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === false || child === null || child === undefined) {
      continue;
    }
    if (Array.isArray(child)) {
      append(parent, child);
    } else {
      parent.append(child instanceof Node ? child : String(child));
    }
  }
}

// Replaces the children of `parent` with `children`.
export function replace(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
  return parent;
}

// The polite live region in the shell: screen readers hear `text` without focus moving.
export function announce(text) {
  const region = document.getElementById("status");
  if (region) {
    region.textContent = "";
    // A fresh text node after a tick is announced even when the text repeats.
    setTimeout(() => { region.textContent = text; }, 50);
  }
}

// A labelled form field: label, control, hint and the error slot forms.js fills.
// `control` is an element with an id and a name.
export function field(labelText, control, { hint, optional } = {}) {
  const id = control.id;
  const describedBy = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", describedBy);
  return h("div.field",
    h("label", { for: id }, labelText, optional ? h("span.optional", ` ${t("(optional)")}`) : null),
    hint ? h("p.hint", { id: `${id}-hint` }, hint) : null,
    control,
    h("p.field-error", { id: `${id}-error`, hidden: true }));
}

// The error paragraph every form has for problems that belong to no single field.
export function formError() {
  return h("p.form-error", { tabindex: "-1", hidden: true, role: "alert" });
}

// A card showing an API error ({message}) with an optional retry button.
export function errorCard(error, retry) {
  return h("div.alert", { role: "alert" },
    h("p", error.message),
    retry ? h("button", { type: "button", onclick: retry }, t("Try again")) : null);
}

export function loading(text = t("Loading…")) {
  return h("p.loading", { role: "status" }, text);
}

// The language switch of the first screens (and of Settings, with its own `choose`): a
// labelled list of the languages, each named in itself. By default the device remembers
// the choice and the page reloads in it, so every text changes, those a screen made when
// it loaded included.
export function languageSwitch(choose = rememberLanguage) {
  const status = h("p.language-status", { role: "status", "aria-live": "polite" });
  const select = languageSelect("language-choice", async (code) => {
    select.disabled = true;
    const problem = await choose(code);
    select.disabled = false;
    status.textContent = problem || "";
  });
  return h("div.language-switch",
    h("label", { for: "language-choice" }, t("Language")), select, status);
}

async function rememberLanguage(code) {
  await setLanguage(code, { remember: true });
  location.reload();
}

// --- formatting -------------------------------------------------------------------------

// Made for the language in use when called (it can change while the app runs).
const dateTime = () => dateTimeFormat({ dateStyle: "medium", timeStyle: "short" });
const timeOnly = () => dateTimeFormat({ timeStyle: "short" });

export function formatDateTime(iso) {
  return iso ? dateTime().format(new Date(iso)) : "";
}

// "12 Nov 2026, 21:40 – 22:40" (the end without its date when both fall on one day).
export function formatWindow(startIso, endIso) {
  const start = new Date(startIso);
  const end = new Date(endIso);
  // One day in the zone shown (the agency's), not the phone's.
  const day = dateTimeFormat({ dateStyle: "short" });
  const sameDay = day.format(start) === day.format(end);
  return `${dateTime().format(start)} – ${sameDay ? timeOnly().format(end) : dateTime().format(end)}`;
}

// <time> element with a readable text and the machine-readable value.
export function time(iso, text) {
  return h("time", { dateTime: iso }, text || formatDateTime(iso));
}

export function formatDistance(metres) {
  if (metres === null || metres === undefined) {
    return "";
  }
  return metres < 1000 ? `${formatNumber(Math.round(metres))} m`
    : `${formatNumber(metres / 1000, { minimumFractionDigits: 1, maximumFractionDigits: 1 })} km`;
}

// "in 3 h", "in 12 min", "5 min ago".
export function relativeTime(iso, now = Date.now()) {
  const minutes = Math.round((new Date(iso).getTime() - now) / 60000);
  if (Math.abs(minutes) < 60) {
    return formatRelative(minutes, "minute");
  }
  const hours = Math.round(minutes / 60);
  if (Math.abs(hours) < 48) {
    return formatRelative(hours, "hour");
  }
  return formatRelative(Math.round(hours / 24), "day");
}

export function formatBytes(bytes) {
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit && value < 10 ? 1 : 0;
  return `${formatNumber(value, { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${units[unit]}`;
}

// Words for API enum values: "no_footage" → "no footage".
export function words(value) {
  return String(value || "").replaceAll("_", " ");
}

// A status pill: <span class="pill pill-approved">approved</span>.
export function pill(state) {
  return h(`span.pill.pill-${state}`, words(state));
}

// A button whose action asks once more, in place, before anything changes: the question,
// a button that runs `act()` (an API call), and one that keeps things as they are. Every
// confirmation in the app is this control.
//   label: the first button; `hiddenLabel` adds words only screen readers hear (which of
//     several items it acts on); `startClass`: its look ("", "danger" or "primary").
//   question: the text, or a function giving it when asked; `groupLabel` names the question
//     for screen readers. yes, no: the two buttons; `tone`: the look of `yes` ("danger"
//     or "primary").
//   act(): the call; both buttons wait while it runs (a screen left meanwhile is left alone).
//   onDone(answer, box, restart): after success. restart() puts the first button back and
//     returns it.
//   onRefused(answer, box, restart): a refusal, when the screen shows it itself; without it
//     the API's message shows under the question and takes focus.
//   focus: what takes focus when the question appears ("question" or "confirm").
export function confirmInPlace({
  className, label, hiddenLabel, startClass = "", question, groupLabel, yes, no, tone = "danger",
  act, onDone, onRefused, focus = "question",
}) {
  const box = h(`div.${className}`);
  const start = h(startClass ? `button.${startClass}` : "button", { type: "button" }, label,
    hiddenLabel ? h("span.visually-hidden", hiddenLabel) : null);
  const restart = () => {
    replace(box, start);
    return start;
  };
  start.addEventListener("click", () => {
    const text = h("p.confirm-question", { tabindex: "-1" }, typeof question === "function" ? question() : question);
    const error = h("p.form-error", { role: "alert", tabindex: "-1", hidden: true });
    const confirm = h(`button.${tone}`, { type: "button" }, yes);
    const keep = h("button", { type: "button" }, no);
    keep.addEventListener("click", () => restart().focus());
    confirm.addEventListener("click", async () => {
      confirm.disabled = keep.disabled = true;
      confirm.setAttribute("aria-busy", "true");
      const answer = await act();
      if (!box.isConnected) {
        return;
      }
      confirm.disabled = keep.disabled = false;
      confirm.removeAttribute("aria-busy");
      if (answer.ok) {
        onDone(answer, box, restart);
      } else if (onRefused) {
        onRefused(answer, box, restart);
      } else {
        error.hidden = false;
        error.textContent = answer.error.message;
        error.focus();
      }
    });
    replace(box, h("div.confirm", { role: "group", "aria-label": groupLabel || label },
      text, error, h("div.actions", confirm, keep)));
    (focus === "confirm" ? confirm : text).focus();
  });
  restart();
  return box;
}
