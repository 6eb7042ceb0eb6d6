// The recorder's clock. Recorders' clocks drift (and many were never set), so the owner
// is asked what their recorder shows right now; the app keeps the difference, the
// *offset*: the recorder's clock minus the true time, in whole seconds (+300: five
// minutes fast). Footage the recorder stamped T happened at T - offset. The server keeps
// it with each clip (tus metadata `recorder_offset`) and on the camera, so the next ask
// names its window as the recorder shows it (app/cameras/recorder_clock.py).
//
// The question is optional, and an untouched answer is no answer: the field starts at
// the phone's time (or the phone's time plus the camera's last known offset) and sends
// nothing until the owner changes it or presses "My recorder shows this time" — a
// prefilled value the owner never looked at says nothing about the recorder.
//
// Shared by the upload panel (upload.js) and the camera form.

import { h } from "./ui.js";
import { t, tn } from "./i18n.js";

// The server's bound (app/cameras/recorder_clock.py MAX_OFFSET_S): 20 years and their leap days.
const MAX_OFFSET_S = (20 * 365 + 5) * 24 * 3600;
// Within this, the recorder and the phone agree: a second's difference is how fast one types.
const SAME_S = 1;

function span(seconds) {
  const total = Math.abs(seconds);
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = total % 60;
  const parts = [];
  if (days) {
    parts.push(tn("%(count)s day", "%(count)s days", days));
  }
  if (hours) {
    parts.push(t("%(hours)s h", { hours }));
  }
  if (minutes && !days) {
    parts.push(t("%(minutes)s min", { minutes }));
  }
  if (rest && !days && !hours) {
    parts.push(t("%(seconds)s s", { seconds: rest }));
  }
  return parts.join(" ");
}

// "5 min 2 s fast", "1 h slow", "right (it matches this phone)".
export function offsetText(seconds) {
  if (Math.abs(seconds) <= SAME_S) {
    return t("right (it matches this phone)");
  }
  return seconds > 0 ? t("%(span)s fast", { span: span(seconds) }) : t("%(span)s slow", { span: span(seconds) });
}

// The days before the recorder overwrites the window's start (AskOut.overwrite_days_left),
// with the reminder that exporting decides nothing. null when unknown.
export function overwriteText(daysLeft) {
  if (daysLeft === null || daysLeft === undefined) {
    return null;
  }
  const when = daysLeft <= 0
    ? t("Your recorder may already have recorded over the start of this time.")
    : tn("Your recorder records over this time in about %(count)s day.", "Your recorder records over this time in about %(count)s days.", daysLeft);
  return t("%(when)s Export it now, decide later: saving a copy from your recorder shares nothing.", { when });
}

function pad(number) {
  return String(number).padStart(2, "0");
}

// A datetime-local value (the phone's zone, to the second) for a time in milliseconds.
function localValue(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:`
    + `${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// What a datetime-local value means in milliseconds (a date-time without a zone is local time).
function parseLocal(value) {
  if (!value) {
    return null;
  }
  const ms = new Date(value.length === 16 ? `${value}:00` : value).getTime();
  return Number.isFinite(ms) ? ms : null;
}

// The question as a fieldset. options:
//   id         the input's id (its hint, status, error: `${id}-hint`, `${id}-status`, `${id}-error`)
//   name       the input's name, where a form shows the API's errors by field (optional)
//   remembered the camera's last known offset (seconds) or null: where the field starts
//   answer     an earlier answer to show again (seconds), or null
//   onChange   (offset seconds or null) => void, on every change of the answer
//   sentWith   what the answer goes with, for the status line ("each clip you upload now")
// Returns {node, offset()}: offset() is the answer in seconds, or null when not answered.
export function recorderClockField({ id, name, remembered = null, answer = null, onChange = () => {},
  sentWith = t("each clip you upload from now on") }) {
  let offset = answer;
  const start = () => (offset !== null ? offset : (remembered || 0));
  const input = h("input", { id, name, type: "datetime-local", step: 1,
    "aria-describedby": `${id}-hint ${id}-status ${id}-error` });
  const status = h("p.recorder-clock-status", { id: `${id}-status`, role: "status", "aria-live": "polite" });
  const confirm = h("button", { type: "button" }, t("My recorder shows this time"));
  const clear = h("button", { type: "button" }, t("Don’t send it"));

  function say(problem) {
    confirm.hidden = offset !== null;
    clear.hidden = offset === null;
    node.dataset.offset = offset === null ? "" : String(offset);
    if (problem) {
      status.textContent = problem;
    } else if (offset === null) {
      status.textContent = t("Not answered: nothing about your recorder’s clock is sent.");
    } else {
      status.textContent = t("Your recorder’s clock is %(offset)s. This goes with %(what)s.", { offset: offsetText(offset), what: sentWith });
    }
  }

  function set(value, problem) {
    offset = value;
    say(problem);
    onChange(offset);
  }

  function show() {
    input.value = localValue(Date.now() + start() * 1000);
  }

  input.addEventListener("input", () => {
    const ms = parseLocal(input.value);
    if (ms === null) {
      set(null);
      return;
    }
    // Both clocks as a display shows them, to the whole second: a recorder showing :23 is
    // compared with the phone's :23, whatever fraction of that second has passed.
    const seconds = Math.round((ms - Math.floor(Date.now() / 1000) * 1000) / 1000);
    if (Math.abs(seconds) > MAX_OFFSET_S) {
      set(null, "That is more than 20 years from now: check the date. Nothing is sent.");
      return;
    }
    set(seconds);
  });
  confirm.addEventListener("click", () => {
    set(start());
    input.focus();
  });
  clear.addEventListener("click", () => {
    set(null);
    show();
    input.focus();
  });

  const node = h("fieldset.recorder-clock",
    h("legend", t("Your recorder’s clock"), h("span.optional", t(" (optional)"))),
    h("label", { for: id }, t("What time does your recorder show right now?")),
    h("p.hint", { id: `${id}-hint` },
      t("Recorders’ clocks drift. Look at the time on your recorder’s screen or app and set this to match, "
      + "to the second if you can: the officer then knows where in your video the time asked for is. "),
      remembered !== null && remembered !== undefined
        ? t("Last time your recorder was %(offset)s; this starts from that.", { offset: offsetText(remembered) })
        : t("It starts at this phone’s time.")),
    input,
    h("p.field-error", { id: `${id}-error`, hidden: true }),
    h("div.actions", confirm, clear),
    status);

  // The field shows the recorder's clock running (the phone's time plus the answer) except
  // while the owner is typing in it; it stops with the screen it is on.
  let seen = false;
  let ticks = 0;
  const timer = setInterval(() => {
    ticks += 1;
    if (node.isConnected) {
      seen = true;
    } else if (seen || ticks > 60) {
      clearInterval(timer);
      return;
    }
    if (document.activeElement !== input) {
      show();
    }
  }, 1000);
  show();
  say();
  return { node, offset: () => offset };
}
