// Civilian oversight: one request — purpose and legal basis, the officer's justification,
// the approval (who, when, why; self-approval), asks counted by state, clips counted,
// evidence holds, retention events and complaints. Opening it is an audit event.

import { get } from "../../api.js";
import { errorCard, formatDateTime, formatWindow, h, pill, time } from "../../ui.js";
import { OUTCOME_WORDS, SOURCE_WORDS, countsList, purposeText, staffName } from "./common.js";
import { N_, t, tn } from "../../i18n.js";

function row(label, value) {
  return value === null || value === undefined || value === "" ? null : h("div", h("dt", label), h("dd", value));
}

function approval(request) {
  if (!request.reviewed_at) {
    return h("p", request.exceeded_limits.length ? t("Not reviewed yet.")
      : t("Within the agency's limits: no approval was needed."));
  }
  const verb = request.status === "rejected" ? t("Rejected") : t("Approved");
  return h("dl.facts",
    row(t("Decision"), verb),
    row(t("By"), staffName(request.reviewed_by)),
    row(t("When"), time(request.reviewed_at)),
    row(t("Why"), request.review_reason),
    request.self_approved ? row(t("Self-approval"), t("Approved by the supervisor who made the request.")) : null);
}

function holds(list) {
  if (!list.length) {
    return h("p", t("No evidence hold."));
  }
  return h("ul.cards", list.map((hold) => h("li",
    h("p", h("strong", hold.active ? t("Active hold") : t("Released hold")), ` · ${hold.reason}`),
    h("p.meta", t("Placed %(when)s by %(name)s", { when: formatDateTime(hold.placed_at), name: hold.placed_by || "—" })),
    hold.released_at ? h("p.meta", t("Released %(when)s by %(name)s: %(reason)s",
      { when: formatDateTime(hold.released_at), name: hold.released_by || "—", reason: hold.release_reason || "" }))
      : null)));
}

function retention(info) {
  return h("div",
    h("p", tn("%(count)s delivered clip kept", "%(count)s delivered clips kept", info.clips_kept),
      info.next_due ? [" · ", t("retention ends %(when)s", { when: formatDateTime(info.next_due) })] : null),
    info.purges.length ? h("ul", info.purges.map((purge) => h("li",
      t("A clip purged %(when)s (retention ended %(due)s)",
        { when: formatDateTime(purge.purged_at), due: purge.retain_until ? formatDateTime(purge.retain_until) : "—" }))))
      : h("p", t("No clip purged yet.")));
}

function complaints(request) {
  const link = h("p", h("a.button", { href: `#/oversight/complaints?request=${request.id}` }, t("Record a complaint")));
  if (!request.complaint_log.length) {
    return [h("p", t("No complaint recorded.")), link];
  }
  return [h("ul.cards", request.complaint_log.map((c) => h("li",
    h("p", h("strong", OUTCOME_WORDS[c.outcome] || c.outcome), ` · ${t("received %(day)s", { day: c.received_on })}`,
      ` · ${SOURCE_WORDS[c.source] || c.source}`),
    h("p", c.summary)))), link];
}

export default {
  title: N_("Request"),
  async render(ctx) {
    const id = ctx.params.id;
    const answer = /^\d+$/.test(id) ? await get(`/api/oversight/requests/${id}`) : { ok: false, status: 404 };
    if (!answer.ok) {
      return h("section.oversight", h("h1", t("Request")),
        answer.status === 404 ? h("p", t("No such request in your agency.")) : errorCard(answer.error));
    }
    const request = answer.data;
    const purpose = purposeText(request);
    return h("section.oversight.oversight-request",
      h("p", h("a", { href: "#/oversight/requests" }, t("All requests"))),
      h("h1", t("Case %(case_number)s", { case_number: request.case_number })),
      h("p.meta", pill(request.status)),
      h("h2", t("Purpose")),
      h("dl.facts",
        row(t("Incident"), request.incident_type),
        row(t("Legal basis and category"), purpose),
        row(t("Exigent circumstances"), request.exigent_reason),
        row(t("What owners were told"), request.summary),
        row(t("Prohibited purposes affirmed"), request.prohibited_purposes_affirmed
          ? request.prohibited_purposes_affirmed.join("; ") : null),
        row(t("Made by"), staffName(request.officer)),
        row(t("Made"), time(request.created_at)),
        row(t("Time asked for"), formatWindow(request.window_start, request.window_end)),
        row(t("Radius"), t("%(m)s m", { m: Math.round(request.radius_m) }))),
      h("h2", t("Limits and approval")),
      request.exceeded_limits.length
        ? h("p", t("Over the limits (%(limits)s). Justification: %(why)s",
          { limits: request.exceeded_limits.join(", "), why: request.justification || "—" }))
        : null,
      approval(request),
      h("h2", t("Answers, counted")),
      countsList(request),
      h("h2", t("Evidence holds")),
      holds(request.holds),
      h("h2", t("Retention")),
      retention(request.retention),
      h("h2", t("Complaints")),
      complaints(request));
  },
};
