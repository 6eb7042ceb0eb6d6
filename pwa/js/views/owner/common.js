// What the owner's screens share: the days of the week of blackout hours, a clip's status
// and SHA-256, and the words for an ask — how an answer came, what each state means to
// the owner, and each answer's button.
//
// This is the one place in the PWA that names ask states and answers, and only to give
// them words: which states are open, take clips or are final, and which answers an ask
// takes, come from the server (config.js, ask.actions). tests/test_pwa_sources.py holds
// these tables to the server's list, so a new state cannot go without words.

import { offsetText } from "../../recorder-clock.js";
import { formatBytes, formatDateTime, h, pill, time, words } from "../../ui.js";
import { N_, t } from "../../i18n.js";

export const DAYS = [t("Monday"), t("Tuesday"), t("Wednesday"), t("Thursday"), t("Friday"), t("Saturday"), t("Sunday")];
// The same, short (for lists): each language has its own abbreviations.
export const SHORT_DAYS = [t("Mon"), t("Tue"), t("Wed"), t("Thu"), t("Fri"), t("Sat"), t("Sun")];

// How an answer came: "in the app", "from the notification", "by text message".
export function viaText(via) {
  return { app: t("in the app"), notification: t("from the notification"), sms: t("by text message"),
    link: t("through the upload link"), filter: t("by your filter") }[via] || words(via);
}

// Why one of the owner's filters (Settings) declined an ask when it arrived.
const FILTER_RULES = () => ({
  paused: t("you had paused all requests"),
  agency: t("it came from an agency you chose not to answer"),
  category: t("you decline requests about this kind of offense"),
  age: t("it asked for older footage than you give"),
});

function filteredText(ask) {
  const rule = FILTER_RULES()[ask.filter_rule] || words(ask.filter_rule || "");
  return t("Declined by your filter when it arrived: %(rule)s. You were not notified; the agency sees only one "
    + "more decline, never whose.", { rule });
}

// --- what became of an ask, by state ----------------------------------------------------------

const NOT_ANSWERED = t("Not answered yet");

// History: what the owner did, in a few words.
const ANSWERED = {
  queued: NOT_ANSWERED,
  notified: NOT_ANSWERED,
  seen: NOT_ANSWERED,
  approved: t("You approved"),
  uploading: t("You approved"),
  delivered: t("You approved and shared a clip"),
  declined: t("You declined"),
  no_footage: t("You had no footage"),
  expired: t("Closed without an answer"),
  cancelled: t("Withdrawn by the agency"),
};

export function answerText(ask) {
  if (ask.answered_via === "filter") {
    return t("Declined by your filter");
  }
  return ANSWERED[ask.state] || NOT_ANSWERED;
}

// The ask screen: the sentence on what became of it. `when` and `via` are "" or start
// with a space; `closed`: the request's deadline has passed.
const UNANSWERED = ({ closed }) => (closed ? t("This request has closed.") : null);
const OUTCOMES = {
  queued: UNANSWERED,
  notified: UNANSWERED,
  seen: UNANSWERED,
  approved: ({ when, via, closed }) => (closed
    ? t("You approved this request%(when)s, but it closed before a clip arrived.", { when })
    : t("You approved this request%(when)s%(via)s. Upload the clip below.", { when, via })),
  uploading: ({ when, via }) => t("You approved this request%(when)s%(via)s. A clip is on its way.", { when, via }),
  delivered: ({ when, via }) => t("You approved this request%(when)s%(via)s and your clip was delivered.", { when, via }),
  declined: ({ when, via, reason }) => [t("You declined this request%(when)s%(via)s. Nothing was shared.", { when, via }),
    reason ? h("span", t(" Your reason (only you see it): “%(reason)s”", { reason })) : null],
  no_footage: ({ when, via }) => t("You answered that you have no footage of that time%(when)s%(via)s.", { when, via }),
  // An approved ask the request's end closed had no clip delivered (the first makes it "delivered").
  expired: ({ ended, approved }) => (approved
    ? t("You approved this request, but it expired%(ended)s before a clip arrived. Nothing was shared.", { ended })
    : t("This request expired%(ended)s before it was answered. Nothing was shared.", { ended })),
  cancelled: ({ ended, approved }) => (approved
    ? t("You approved this request, but the agency withdrew it%(ended)s before a clip arrived. Nothing was shared, ", { ended })
      + t("and its upload link no longer works.")
    : t("The agency withdrew this request%(ended)s. Nothing more is needed from you.", { ended })),
};

// <p> with the sentence for `ask`, or null when there is nothing to say yet.
export function outcomeParagraph(ask, closed) {
  if (ask.answered_via === "filter") {
    return h("p.filtered", filteredText(ask));
  }
  const sentence = (OUTCOMES[ask.state] || UNANSWERED)({
    when: ask.responded_at ? t(" on %(when)s", { when: formatDateTime(ask.responded_at) }) : "",
    via: ask.answered_via ? ` ${viaText(ask.answered_via)}` : "",
    reason: ask.decline_reason,
    ended: ask.closed_at ? t(" on %(when)s", { when: formatDateTime(ask.closed_at) }) : "",
    approved: Boolean(ask.responded_at),
    closed,
  });
  return sentence ? h("p", sentence) : null;
}

// --- a request that ended -------------------------------------------------------------------

// Owners read "withdrawn" where the agency's side says "cancelled".
// The pill's word for each state (a function: the words are the language's when called).
const STATE_WORDS = () => ({
  queued: t("new"),
  notified: t("new"),
  seen: t("seen"),
  approved: t("approved"),
  uploading: t("uploading"),
  delivered: t("delivered"),
  declined: t("declined"),
  no_footage: t("no footage"),
  expired: t("expired"),
  cancelled: t("withdrawn"),
});

export function statePill(state) {
  const node = pill(state);
  node.textContent = STATE_WORDS()[state] || words(state);
  return node;
}

// A request the agency withdrew or that expired: the words and the time it ended, as a
// <dt>/<dd> pair of the ask's facts; null for any other ask.
const ENDED = { cancelled: t("Withdrawn"), expired: t("Expired") };

export function endedFact(ask) {
  const word = ENDED[ask.state];
  return word && ask.closed_at ? [h("dt", word), h("dd", time(ask.closed_at))] : null;
}

// The answers' buttons, in the order the ask screen shows them (those in ask.actions):
// the words, the API path each posts to (/api/asks/<id>/<path>) and what is announced after.
export const ANSWERS = {
  approve: { label: t("Approve"), path: "approve", done: t("Approved. Now choose the clip to upload.") },
  no_footage: { label: t("No footage"), path: "no-footage", done: t("Answer sent: no footage.") },
  decline: { label: t("Decline…"), path: "decline", done: t("Declined. Nothing will be shared.") },
};

// --- clips -----------------------------------------------------------------------------------

// "delivered", "deleted when the agency’s retention ended" or "uploading (3 MB of 12 MB)".
export function clipStatusText(clip) {
  if (clip.status === "complete") {
    return t("delivered");
  }
  return clip.status === "purged" ? t("deleted when the agency’s retention ended")
    : t("uploading (%(received)s of %(size)s)", { received: formatBytes(clip.received), size: formatBytes(clip.size) });
}

// A clip's SHA-256 in full (it wraps on a narrow phone), with a button that copies it where
// the browser allows. `name` completes the button's accessible name ("Copy SHA-256 of ...").
export function sha256Block(clip, name, announce) {
  const copy = navigator.clipboard && window.isSecureContext
    ? h("button.copy-sha256", { type: "button" }, t("Copy"), h("span.visually-hidden", t(" SHA-256 of %(name)s", { name })))
    : null;
  const block = h("div.sha256-block",
    h("p", h("span.sha256-label", t("SHA-256 computed by the server: ")), h("code.sha256", clip.sha256)),
    copy);
  copy?.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(clip.sha256);
      announce(t("SHA-256 of %(name)s copied.", { name }));
    } catch {
      announce(t("The SHA-256 could not be copied: select it and copy it by hand."));
    }
  });
  return block;
}

// One shared clip in the owner's History: its name, size, status and SHA-256.
// What the owner said of their recorder's clock when uploading the clip, or null.
export function clipClockNote(clip) {
  return clip.recorder_offset_s === null || clip.recorder_offset_s === undefined ? null
    : h("p.hint.clip-clock", t("Your recorder’s clock was %(offset)s when you sent it.", { offset: offsetText(clip.recorder_offset_s) }));
}

// What became of a delivered clip (GET /api/asks/<id>/clips: fate), oldest first.
const FATE = {
  received: N_("Received by the agency"),
  first_viewed: N_("First opened by the agency"),
  held: N_("Placed under an evidence hold: kept past the usual retention"),
  released: N_("Evidence hold released: deleted when retention ends"),
  purged: N_("Deleted when the agency’s retention ended"),
};

function clipFate(clip, name) {
  const fate = clip.fate || [];
  return fate.length ? h("ol.plain.clip-fate", { "aria-label": t("What happened to %(name)s", { name }) },
    fate.map((step) => h("li", { dataset: { event: step.event } }, t(FATE[step.event] || step.event), " · ", time(step.at))))
    : null;
}

// A delivered clip's signed receipt (the server sends it as a file): proof, checkable offline
// with the key on the transparency page, that the agency received exactly this clip.
function receiptLink(clip, name) {
  return clip.status === "uploading" || !clip.sha256 ? null
    : h("p.clip-receipt",
      h("a.button.secondary", { href: `/api/me/clips/${clip.id}/receipt`, download: `porchlight-receipt-clip-${clip.id}.json` },
        t("Download signed receipt"), h("span.visually-hidden", t(" for %(name)s", { name }))),
      " ", h("span.hint", t("Signed by Porchlight: proof that the agency received this exact clip, which anyone can check with the public key on the transparency page.")));
}

export function historyClip(clip, announce) {
  const name = clip.filename || t("Clip %(id)s", { id: clip.id });
  return h("li.history-clip", { dataset: { clipId: String(clip.id), status: clip.status } },
    h("p.history-clip-name", h("strong", name), ` · ${formatBytes(clip.size)} · ${clipStatusText(clip)}`,
      clip.completed_at ? [" · ", time(clip.completed_at)] : null),
    clipClockNote(clip),
    clip.sha256 ? sha256Block(clip, name, announce) : null,
    clipFate(clip, name),
    receiptLink(clip, name));
}
