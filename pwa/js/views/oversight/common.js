// Helpers of the civilian oversight screens: the words for a request's status, legal
// basis and counts. Oversight reads counts, never who: no owner, camera or clip here.

import { h, words } from "../../ui.js";
import { t } from "../../i18n.js";

export const STATUS_WORDS = {
  pending_approval: t("Waiting for approval"),
  active: t("Active"),
  rejected: t("Rejected"),
  cancelled: t("Cancelled"),
  expired: t("Expired"),
};

export const OUTCOME_WORDS = {
  open: t("Open"),
  sustained: t("Sustained"),
  not_sustained: t("Not sustained"),
  unfounded: t("Unfounded"),
  exonerated: t("Exonerated"),
  withdrawn: t("Withdrawn"),
};

export const SOURCE_WORDS = { resident: t("A resident"), owner: t("A camera owner"), other: t("Someone else") };

const BASIS_WORDS = { voluntary: t("Voluntary request"), warrant: t("Warrant"), exigent: t("Exigent circumstances") };

// "Warrant 24-117 (Circuit Court) · Burglary", or null before requests carry a legal basis.
export function purposeText(request) {
  const parts = [];
  if (request.legal_basis) {
    let basis = BASIS_WORDS[request.legal_basis] || words(request.legal_basis);
    if (request.legal_basis === "warrant" && request.warrant_number) {
      const warrant = { number: request.warrant_number, court: request.warrant_court };
      basis = warrant.court ? t("Warrant %(number)s, %(court)s", warrant) : t("Warrant %(number)s", warrant);
    }
    parts.push(basis);
  }
  if (request.offense_category_label || request.offense_category) {
    parts.push(request.offense_category_label || words(request.offense_category));
  }
  return parts.length ? parts.join(" · ") : null;
}

const capitalised = (text) => text.charAt(0).toUpperCase() + text.slice(1);

// <dl class="counts">: asks by state (zeros left out) and clips delivered.
export function countsList(request) {
  const items = Object.entries(request.counts || {}).filter(([, n]) => n > 0);
  return h("dl.counts",
    h("div", { dataset: { outcome: "asked" } }, h("dt", t("Cameras asked")), h("dd", String(request.asks_total || 0))),
    items.map(([state, n]) => h("div", { dataset: { outcome: state } }, h("dt", capitalised(words(state))),
      h("dd", String(n)))),
    h("div", { dataset: { outcome: "clips" } }, h("dt", t("Clips delivered")), h("dd", String(request.clips_delivered))));
}

export function staffName(ref) {
  return ref ? ref.name || t("staff member %(id)s", { id: ref.id }) : t("a former staff member");
}
