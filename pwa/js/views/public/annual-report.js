// An agency's annual report for one year: no sign-in, aggregates only.
//
// Everything comes from GET /api/public/agencies/<slug>/reports/<year>, generated from the
// records when asked. A count hidden by the small-cell rule arrives as null and shows as
// "—" (explained on the page). The agency's own entries (costs, funding, policy changes)
// sit in a box of their own, marked as entered by the agency, not computed.

import { get } from "../../api.js";
import { errorCard, formatDateTime, h } from "../../ui.js";
import { N_, t } from "../../i18n.js";

const HIDDEN = "—";

const shown = (value) => (value === null || value === undefined ? HIDDEN : String(value));

// [heading, section key, [[label, figure key]]]
function sections() {
  return [
    [t("Requests"), "requests", [
      [t("Requests made"), "total"], [t("Still active"), "by_status.active"],
      [t("Ran their course"), "by_status.expired"], [t("Withdrawn by the officer"), "by_status.cancelled"],
      [t("Refused by a supervisor"), "by_status.rejected"], [t("Waiting for a supervisor"), "by_status.pending_approval"],
      [t("Of which re-asks of owners who had said no"), "re_asks"]]],
    [t("Supervisor approvals"), "reviews", [
      [t("Over-limit requests decided"), "reviewed"], [t("Approved over a limit"), "over_limit_approved"],
      [t("Refused"), "over_limit_rejected"], [t("Of which self-approved"), "self_approved"],
      [t("Re-asks approved"), "re_asks_approved"]]],
    [t("What owners answered"), "outcomes", [
      [t("Cameras asked"), "asks"], [t("Approved"), "approved"], [t("Of which delivered"), "delivered"],
      [t("Declined"), "declined"],
      [t("Of which declined by the owners' standing filters"), "declined_by_owner_filters"], [t("No footage"), "no_footage"], [t("Expired unanswered"), "expired"],
      [t("Withdrawn by the officer"), "cancelled"], [t("Still open"), "open"]]],
    [t("Scope of requests"), "scope", [
      [t("Radius up to %(high)s m", { high: 100 }), "radius.radius_up_to_100_m"],
      [t("Radius %(low)s–%(high)s m", { low: 101, high: 250 }), "radius.radius_101_to_250_m"],
      [t("Radius %(low)s–%(high)s m", { low: 251, high: 500 }), "radius.radius_251_to_500_m"],
      [t("Radius over %(low)s m", { low: 500 }), "radius.radius_over_500_m"],
      [t("Time window up to %(high)s min", { high: 30 }), "window.window_up_to_30_min"],
      [t("Time window %(low)s–%(high)s min", { low: 31, high: 60 }), "window.window_31_to_60_min"],
      [t("Time window %(low)s–%(high)s min", { low: 61, high: 120 }), "window.window_61_to_120_min"],
      [t("Time window over %(low)s min", { low: 120 }), "window.window_over_120_min"]]],
    [t("Clips"), "clips", [
      [t("Clips received"), "received"], [t("First viewed by the agency"), "first_viewed"],
      [t("Placed under an evidence hold"), "placed_under_hold"], [t("Clips purged"), "purged"]]],
    [t("Retention"), "retention", [
      [t("Past retention, neither purged nor held"), "past_retention_not_purged_or_held"],
      [t("Purged more than a day late"), "purged_late"]]],
    [t("Sharing with other agencies"), "sharing", [
      [t("Clips passed to another agency"), "clips_passed_to_other_agencies"],
      [t("Clip downloads by the agency"), "downloads"],
      [t("Cameras also shared with other agencies"), "cameras_also_shared_with_other_agencies"]]],
    [t("Complaints"), "complaints", [
      [t("Complaints received"), "total"], [t("Open"), "open"], [t("Sustained"), "sustained"],
      [t("Not sustained"), "not_sustained"], [t("Unfounded"), "unfounded"], [t("Exonerated"), "exonerated"],
      [t("Withdrawn"), "withdrawn"]]],
  ];
}

function figure(section, path) {
  return path.split(".").reduce((value, key) => (value && typeof value === "object" ? value[key] : null), section);
}

function sectionTable([heading, key, rows], report) {
  const id = `annual-${key}`;
  return h("section.annual-section", { "aria-labelledby": id },
    h("h2", { id }, heading),
    key === "sharing" ? h("p", t("Porchlight has no way to pass a clip to another agency: clips go only to the agency "
      + "that asked. A clip leaves Porchlight only when the agency's staff download it.")) : null,
    h("table.annual-table",
      h("tbody", rows.map(([label, path]) => h("tr",
        h("th", { scope: "row" }, label),
        h("td", shown(figure(report[key], path))))))));
}

const BASIS_NAMES = {
  voluntary: N_("Voluntary request"), warrant: N_("Warrant"), exigent: N_("Exigent circumstances"),
};

// Requests by legal basis and by offense category: the same cells as the transparency page's.
function purposeTables(purposes) {
  const table = (id, heading, cells, name) => h("section.annual-section", { "aria-labelledby": id },
    h("h2", { id }, heading),
    h("table.annual-table", h("tbody", cells.map((cell) => h("tr", { dataset: { key: cell.key } },
      h("th", { scope: "row" }, name(cell)), h("td", shown(cell.requests)))))));
  return [
    table("annual-basis", t("Requests by legal basis"), purposes.legal_basis, (cell) => t(BASIS_NAMES[cell.key] || cell.key)),
    table("annual-categories", t("Requests by offense category"), purposes.offense_categories, (cell) => cell.name),
  ];
}

function auditSection(audit, slug) {
  const when = formatDateTime(audit.verified_at);
  return h("section.annual-section", { "aria-labelledby": "annual-audit" },
    h("h2", { id: "annual-audit" }, t("Audit log")),
    h("p", { dataset: { verified: String(audit.ok) } }, audit.ok
      ? t("The agency's audit log verified intact at %(when)s: %(events)s events, none changed or removed.",
        { when, events: audit.events_checked })
      : t("The agency's audit log FAILED verification at %(when)s: %(kind)s at event %(seq)s.",
        { when, kind: audit.problem.kind, seq: audit.problem.seq })),
    checkpointText(audit.checkpoints),
    h("p", h("a", { href: `/api/public/agencies/${encodeURIComponent(slug)}/checkpoints` },
      t("All signed checkpoints and the public key (JSON)"))));
}

function checkpointText(signed) {
  if (!signed.published) {
    return h("p", t("No signed checkpoint of the audit log was published in the year."));
  }
  return h("p", { dataset: { checkpointsHeld: String(signed.not_held_by_log === 0) } }, signed.not_held_by_log === 0
    ? t("Signed checkpoints published in the year: %(count)s. The log still holds every one.",
      { count: signed.published })
    : t("Signed checkpoints published in the year: %(count)s. The log NO LONGER HOLDS %(missing)s of them: "
      + "events were removed or rewritten.", { count: signed.published, missing: signed.not_held_by_log }));
}

function enteredSection(entered) {
  const rows = [[t("Costs"), entered.costs], [t("Funding source"), entered.funding_source],
    [t("Policy changes"), entered.policy_changes]];
  return h("section.annual-entered", { "aria-labelledby": "annual-entered" },
    h("h2", { id: "annual-entered" }, t("Entered by the agency, not computed")),
    h("p.hint", t("The agency typed these itself; Porchlight neither computes nor checks them.")),
    h("dl.stacked", rows.map(([label, text]) => [h("dt", label), h("dd.entered-text", text || t("Nothing entered."))])));
}

export default {
  title: N_("Annual report"),
  async render(ctx) {
    const { slug } = ctx.params;
    const year = Number(ctx.params.year);
    const base = `/api/public/agencies/${encodeURIComponent(slug)}/reports/${year}`;
    const back = h("p.back", h("a", { href: `#/transparency/${encodeURIComponent(slug)}` }, t("Transparency report")));
    const answer = await get(base);
    if (!answer.ok) {
      return h("section", back, h("h1", t("Annual report")),
        errorCard(answer.status === 404 ? { message: t("There is no agency at this address.") } : answer.error));
    }
    const report = answer.data;
    const thisYear = new Date().getFullYear();
    const years = [thisYear, thisYear - 1, thisYear - 2].filter((y) => y !== year);
    return h("section.transparency.annual-report",
      back,
      h("h1", t("Annual report %(year)s: %(name)s", { year, name: report.agency.name })),
      h("p.lead", t("Generated from Porchlight's records when you opened this page, for the calendar year in the "
        + "agency's time zone. Counts only — no personal data.")),
      report.complete ? null : h("p.hint", t("The year is not over: these are the figures so far.")),
      h("p.hint", t("— marks a count hidden by the small-cell rule: a count of 1 to 4, or one that would let such a "
        + "count be worked out by subtraction.")),
      h("p", h("a.button", { href: `${base}.pdf`, download: "" }, t("Printable report (PDF)")), " ",
        h("a", { href: `${base}.csv`, download: "" }, t("Figures (CSV)")), " ", h("a", { href: base }, "JSON")),
      sections().slice(0, 1).map((section) => sectionTable(section, report)),
      purposeTables(report.purposes),
      sections().slice(1).map((section) => sectionTable(section, report)),
      auditSection(report.audit, slug),
      enteredSection(report.entered),
      h("nav", { "aria-label": t("Other years") }, h("p", t("Other years:"), " ",
        years.map((y) => [h("a", { href: `#/transparency/${encodeURIComponent(slug)}/report/${y}` }, String(y)), " "]))));
  },
};
