// The owner's inbox: every request for footage made to them, open ones first.

import { get } from "../../api.js";
import { askRules } from "../../config.js";
import { errorCard, formatDateTime, formatDistance, formatWindow, h, relativeTime, time } from "../../ui.js";
import { endedFact, statePill } from "./common.js";
import { N_, t, tn } from "../../i18n.js";

function deadlinePassed(ask) {
  return ask.deadline && new Date(ask.deadline).getTime() <= Date.now();
}

// 0: waiting for an answer, 1: approved and waiting for clips, 2: everything else.
function rank(ask, rules) {
  if (deadlinePassed(ask)) {
    return 2;
  }
  if (rules.isOpen(ask.state)) {
    return 0;
  }
  return rules.awaitsClips(ask.state) ? 1 : 2;
}

function sortAsks(asks, rules) {
  const ranks = new Map(asks.map((ask) => [ask, rank(ask, rules)]));
  return [...asks].sort((a, b) => {
    const byRank = ranks.get(a) - ranks.get(b);
    if (byRank) {
      return byRank;
    }
    if (ranks.get(a) < 2) {
      // The one closing soonest first.
      return new Date(a.deadline || 8.64e15) - new Date(b.deadline || 8.64e15);
    }
    return b.id - a.id;
  });
}

function nextStep(ask, rules) {
  if (ask.answered_via === "filter") {
    return h("p.next-step", t("Declined by your filter"));
  }
  if (deadlinePassed(ask)) {
    return null;
  }
  if (rules.isOpen(ask.state)) {
    return h("p.next-step", t("Waiting for your answer"));
  }
  if (rules.awaitsClips(ask.state)) {
    return h("p.next-step", t("Approved: upload your clip"));
  }
  return null;
}

function askCard(ask, rules) {
  const titleId = `ask-${ask.id}-title`;
  return h("li.ask-card", { dataset: { askId: String(ask.id), state: ask.state } },
    h("h2", { id: titleId },
      h("a.stretch", { href: `#/asks/${ask.id}` }, t("%(agency_name)s: case %(case_number)s", { agency_name: ask.agency_name, case_number: ask.case_number }))),
    h("p.meta", statePill(ask.state), " ", ask.incident_type),
    nextStep(ask, rules),
    h("dl.facts",
      h("div", h("dt", t("Time asked for")), h("dd", formatWindow(ask.window_start, ask.window_end))),
      h("div", h("dt", t("Camera")), h("dd", t("%(camera)s · %(distance)s from the incident", { camera: ask.camera_label, distance: formatDistance(ask.distance_m) }))),
      whenFact(ask)));
}

// Withdrawn or expired and when; else the deadline (passed or to come).
function whenFact(ask) {
  const ended = endedFact(ask);
  if (ended) {
    return h("div", ended);
  }
  return ask.deadline ? h("div", h("dt", deadlinePassed(ask) ? t("Closed") : t("Answer by")),
    h("dd", time(ask.deadline, formatDateTime(ask.deadline)),
      deadlinePassed(ask) ? null : ` (${relativeTime(ask.deadline)})`)) : null;
}

export default {
  title: N_("Inbox"),
  async render(ctx) {
    const [answer, rulesAnswer] = await Promise.all([get("/api/asks"), askRules()]);
    if (!answer.ok || !rulesAnswer.ok) {
      return h("section",
        h("h1", t("Requests for footage")),
        errorCard((answer.ok ? rulesAnswer : answer).error, () => ctx.navigate("/inbox")));
    }
    const rules = rulesAnswer.data;
    const asks = sortAsks(answer.data, rules);
    const waiting = asks.filter((ask) => rank(ask, rules) === 0).length;
    if (!asks.length) {
      return h("section",
        h("h1", t("Requests for footage")),
        h("div.card.empty-state",
          h("h2", t("No requests yet")),
          h("p", t("When an officer asks for footage near one of your cameras, the request appears here and you "
            + "decide whether to share. Nothing is shared without your answer.")),
          h("div.actions",
            h("a.button", { href: "#/cameras" }, t("Your cameras")),
            h("a.button", { href: "#/settings" }, t("Notification settings")))));
    }
    return h("section",
      h("h1", t("Requests for footage")),
      h("p.lead", waiting === 0 ? t("Nothing is waiting for your answer.")
        : tn("%(count)s request is waiting for your answer.", "%(count)s requests are waiting for your answer.", waiting)),
      h("ul.cards.asks", asks.map((ask) => askCard(ask, rules))));
  },
};
