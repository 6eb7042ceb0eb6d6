// Helpers shared by the officer and supervisor screens: counts per outcome, the agency's
// limits in words, and times for <input type="datetime-local">.
//
// Nothing here (nor in any API these screens call) carries an owner's identity:
// officers learn how many owners answered what, never who.

import { get } from "../../api.js";
import { h, words } from "../../ui.js";
import { t, tn } from "../../i18n.js";

// --- the agency's policy ---------------------------------------------------------------

let policyPromise = null;

// GET /api/agency/policy, fetched once per page load (null when it cannot be read).
export function agencyPolicy({ fresh = false } = {}) {
  if (!policyPromise || fresh) {
    policyPromise = get("/api/agency/policy").then((answer) => {
      if (!answer.ok) {
        policyPromise = null;
        return null;
      }
      return answer.data;
    });
  }
  return policyPromise;
}

// 90 → "1 h 30 min", 120 → "2 h", 45 → "45 min", 2880 → "2 days".
export function formatMinutes(minutes) {
  const total = Math.round(minutes);
  if (total >= 2880 && total % 1440 === 0) {
    return t("%(days)s days", { days: total / 1440 });
  }
  const hours = Math.floor(total / 60);
  const rest = total % 60;
  if (!hours) {
    return t("%(rest)s min", { rest });
  }
  return rest ? t("%(hours)s h %(rest)s min", { hours, rest }) : t("%(hours)s h", { hours });
}

export function formatMetres(metres) {
  const value = Number(metres);
  return value >= 1000 ? t("%(km)s km", { km: (value / 1000).toFixed(value % 1000 ? 1 : 0) })
    : t("%(m)s m", { m: Math.round(value) });
}

// ["radius", "window", "re_ask"] of a request → readable sentences, with the policy's figures when known.
// The legal basis as staff read it: with the warrant's number and court, or the exigent reason.
export function legalBasisText(request) {
  if (request.legal_basis === "warrant") {
    return t("Warrant %(number)s, %(court)s", { number: request.warrant_number || "—", court: request.warrant_court || "—" });
  }
  if (request.legal_basis === "exigent") {
    return t("Exigent circumstances: %(reason)s", { reason: request.exigent_reason || "—" });
  }
  return t("Voluntary request (owners may say no)");
}

export function exceededText(request, policy) {
  const minutes = (new Date(request.window_end) - new Date(request.window_start)) / 60000;
  return (request.exceeded_limits || []).map((limit) => {
    if (limit === "radius") {
      const radius = formatMetres(request.radius_m);
      return policy ? t("Radius %(radius)s — over the %(limit)s limit", { radius, limit: formatMetres(policy.max_radius_m) })
        : t("Radius %(radius)s — over the agency's limit", { radius });
    }
    if (limit === "window") {
      const window = formatMinutes(minutes);
      return policy ? t("Time window %(window)s — over the %(limit)s limit",
        { window, limit: formatMinutes(policy.max_window_minutes) })
        : t("Time window %(window)s — over the agency's limit", { window });
    }
    if (limit === "re_ask") {
      return tn("Asks again %(count)s camera whose owner declined or did not answer an overlapping request in the "
        + "last 30 days", "Asks again %(count)s cameras whose owners declined or did not answer an overlapping "
        + "request in the last 30 days", request.re_ask_cameras || 0);
    }
    return limit;
  });
}

// --- counts per outcome ------------------------------------------------------------------

// How the ask states are shown to staff: the open ones together as "Waiting", then each
// other state on its own, in the order of an ask's life (`rules`: config.js askRules).
function outcomes(rules) {
  const label = (state) => {
    const text = words(state);
    return text.charAt(0).toUpperCase() + text.slice(1);
  };
  return [["waiting", t("Waiting"), rules.open],
    ...rules.states.filter((state) => !rules.isOpen(state)).map((state) => [state, label(state), [state]])];
}

export function outcomeCounts(counts, rules) {
  return outcomes(rules).map(([key, label, states]) => ({
    key, label, value: states.reduce((sum, state) => sum + ((counts || {})[state] || 0), 0),
  }));
}

// <dl class="counts">: cameras asked, then each outcome (zeros included when `all`).
export function countsList(request, rules, { all = true } = {}) {
  const items = outcomeCounts(request.counts, rules).filter((item) => all || item.value > 0);
  return h("dl.counts",
    h("div", { dataset: { outcome: "asked" } }, h("dt", t("Cameras asked")), h("dd", String(request.asks_total || 0))),
    items.map((item) => h("div", { dataset: { outcome: item.key } }, h("dt", item.label), h("dd", String(item.value)))));
}

// "3 asked · 1 approved · 2 waiting" for list items.
export function countsSentence(request, rules) {
  if (!request.asks_total) {
    return request.status === "pending_approval" ? t("Not sent yet: waiting for a supervisor") : t("No cameras asked");
  }
  const parts = outcomeCounts(request.counts, rules).filter((item) => item.value > 0)
    .map((item) => `${item.value} ${item.label.toLowerCase()}`);
  return [t("%(asks_total)s asked", { asks_total: request.asks_total }), ...parts].join(" · ");
}

export const STATUS_WORDS = {
  pending_approval: t("Waiting for approval"),
  active: t("Active"),
  rejected: t("Rejected"),
  cancelled: t("Cancelled"),
  expired: t("Expired"),
};

// --- times for datetime-local inputs -------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

// A Date → "2026-05-01T21:30" in the device's time zone.
export function toLocalInput(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// "2026-05-01T21:30" (device time) → "2026-05-02T02:30:00Z", or null when not a time.
export function localInputToIso(value) {
  if (!value) {
    return null;
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    return null;
  }
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

// A coordinate typed by hand ("43.0417" or "43,0417") → a number, or null.
export function parseCoordinate(text, limit) {
  const value = Number(String(text || "").trim().replace(",", "."));
  if (String(text || "").trim() === "" || !Number.isFinite(value) || Math.abs(value) > limit) {
    return null;
  }
  return value;
}

export function formatCoordinates(lat, lon) {
  return `${Number(lat).toFixed(5)}, ${Number(lon).toFixed(5)}`;
}
