// What the owner's screens share: the days of the week of blackout hours, a clip's status
// and SHA-256, and the words for an ask — how an answer came, what each state means to
// the owner, and each answer's button.
//
// This is the one place in the PWA that names ask states and answers, and only to give
// them words: which states are open, take clips or are final, and which answers an ask
// takes, come from the server (config.js, ask.actions). tests/test_pwa_sources.py holds
// these tables to the server's list, so a new state cannot go without words.

import { formatBytes, formatDateTime, h, time, words } from "../../ui.js";

export const DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

// How an answer came: "in the app", "from the notification", "by text message".
export function viaText(via) {
  return { app: "in the app", notification: "from the notification", sms: "by text message",
    link: "through the upload link" }[via] || words(via);
}

// --- what became of an ask, by state ----------------------------------------------------------

const NOT_ANSWERED = "Not answered yet";

// History: what the owner did, in a few words.
const ANSWERED = {
  queued: NOT_ANSWERED,
  notified: NOT_ANSWERED,
  seen: NOT_ANSWERED,
  approved: "You approved",
  uploading: "You approved",
  delivered: "You approved and shared a clip",
  declined: "You declined",
  no_footage: "You had no footage",
  expired: "Closed without an answer",
  cancelled: "Withdrawn by the agency",
};

export function answerText(ask) {
  return ANSWERED[ask.state] || NOT_ANSWERED;
}

// The ask screen: the sentence on what became of it. `when` and `via` are "" or start
// with a space; `closed`: the request's deadline has passed.
const UNANSWERED = ({ closed }) => (closed ? "This request has closed." : null);
const OUTCOMES = {
  queued: UNANSWERED,
  notified: UNANSWERED,
  seen: UNANSWERED,
  approved: ({ when, via, closed }) => (closed
    ? `You approved this request${when}, but it closed before a clip arrived.`
    : `You approved this request${when}${via}. Upload the clip below.`),
  uploading: ({ when, via }) => `You approved this request${when}${via}. A clip is on its way.`,
  delivered: ({ when, via }) => `You approved this request${when}${via} and your clip was delivered.`,
  declined: ({ when, via, reason }) => [`You declined this request${when}${via}. Nothing was shared.`,
    reason ? h("span", ` Your reason (only you see it): “${reason}”`) : null],
  no_footage: ({ when, via }) => `You answered that you have no footage of that time${when}${via}.`,
  expired: () => "This request closed before it was answered. Nothing was shared.",
  cancelled: () => "The agency withdrew this request. Nothing more is needed from you.",
};

// <p> with the sentence for `ask`, or null when there is nothing to say yet.
export function outcomeParagraph(ask, closed) {
  const sentence = (OUTCOMES[ask.state] || UNANSWERED)({
    when: ask.responded_at ? ` on ${formatDateTime(ask.responded_at)}` : "",
    via: ask.answered_via ? ` ${viaText(ask.answered_via)}` : "",
    reason: ask.decline_reason,
    closed,
  });
  return sentence ? h("p", sentence) : null;
}

// The answers' buttons, in the order the ask screen shows them (those in ask.actions):
// the words, the API path each posts to (/api/asks/<id>/<path>) and what is announced after.
export const ANSWERS = {
  approve: { label: "Approve", path: "approve", done: "Approved. Now choose the clip to upload." },
  no_footage: { label: "No footage", path: "no-footage", done: "Answer sent: no footage." },
  decline: { label: "Decline…", path: "decline", done: "Declined. Nothing will be shared." },
};

// --- clips -----------------------------------------------------------------------------------

// "delivered", "deleted when the agency’s retention ended" or "uploading (3 MB of 12 MB)".
export function clipStatusText(clip) {
  if (clip.status === "complete") {
    return "delivered";
  }
  return clip.status === "purged" ? "deleted when the agency’s retention ended"
    : `uploading (${formatBytes(clip.received)} of ${formatBytes(clip.size)})`;
}

// A clip's SHA-256 in full (it wraps on a narrow phone), with a button that copies it where
// the browser allows. `name` completes the button's accessible name ("Copy SHA-256 of ...").
export function sha256Block(clip, name, announce) {
  const copy = navigator.clipboard && window.isSecureContext
    ? h("button.copy-sha256", { type: "button" }, "Copy", h("span.visually-hidden", ` SHA-256 of ${name}`))
    : null;
  const block = h("div.sha256-block",
    h("p", h("span.sha256-label", "SHA-256 computed by the server: "), h("code.sha256", clip.sha256)),
    copy);
  copy?.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(clip.sha256);
      announce(`SHA-256 of ${name} copied.`);
    } catch {
      announce("The SHA-256 could not be copied: select it and copy it by hand.");
    }
  });
  return block;
}

// One shared clip in the owner's History: its name, size, status and SHA-256.
export function historyClip(clip, announce) {
  const name = clip.filename || `Clip ${clip.id}`;
  return h("li.history-clip", { dataset: { clipId: String(clip.id), status: clip.status } },
    h("p.history-clip-name", h("strong", name), ` · ${formatBytes(clip.size)} · ${clipStatusText(clip)}`,
      clip.completed_at ? [" · ", time(clip.completed_at)] : null),
    clip.sha256 ? sha256Block(clip, name, announce) : null);
}
