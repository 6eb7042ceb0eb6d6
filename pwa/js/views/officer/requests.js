// The agency's footage requests, newest first, with live status and counts per outcome
// (polled while the screen is open). A status filter narrows the list.

import { get } from "../../api.js";
import { askRules } from "../../config.js";
import { poll } from "../../timing.js";
import { errorCard, formatWindow, h, loading, pill, relativeTime, replace } from "../../ui.js";
import { STATUS_WORDS, countsSentence, formatMetres, outcomeCounts } from "./common.js";
import { N_, t, tn } from "../../i18n.js";

const POLL_MS = 10000;
const FILTERS = [["", t("All requests")], ["active", t("Active")], ["pending_approval", t("Waiting for approval")],
  ["expired", t("Expired")], ["cancelled", t("Cancelled")], ["rejected", t("Rejected")]];

export default {
  title: N_("Requests"),
  async render(ctx) {
    const status = FILTERS.some(([value]) => value === ctx.query.get("status")) ? ctx.query.get("status") : "";
    const filter = h("select", { id: "requests-filter", name: "status" },
      FILTERS.map(([value, text]) => h("option", { value, selected: value === status }, text)));
    filter.addEventListener("change", () => {
      ctx.navigate(filter.value ? `/officer/requests?status=${filter.value}` : "/officer/requests");
    });
    const totals = h("div.request-totals");
    const list = h("div.request-list", loading());
    const updated = h("p.hint.updated");
    let last = null; // id → signature, to announce changes
    let closed = false;
    let rules = null;

    async function load({ first = false, background = false } = {}) {
      const [requestsAnswer, rulesAnswer] = await Promise.all([
        get(`/api/requests${status ? `?status=${status}` : ""}`, { background }), askRules()]);
      if (closed || !ctx.current) {
        return;
      }
      const answer = rulesAnswer.ok ? requestsAnswer : rulesAnswer;
      if (!answer.ok) {
        if (first) {
          replace(list, errorCard(answer.error, () => load({ first: true })));
        } else {
          updated.textContent = t("Could not refresh: %(message)s", { message: answer.error.message });
        }
        return;
      }
      rules = rulesAnswer.data;
      const requests = answer.data;
      drawTotals(requests);
      drawList(requests);
      announceChanges(requests);
      const at = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      updated.textContent = tn("Updated %(at)s; refreshes every %(count)s second.",
        "Updated %(at)s; refreshes every %(count)s seconds.", POLL_MS / 1000, { at });
    }

    function drawTotals(requests) {
      const byStatus = {};
      let asked = 0;
      const outcomes = {};
      for (const request of requests) {
        byStatus[request.status] = (byStatus[request.status] || 0) + 1;
        asked += request.asks_total || 0;
        for (const item of outcomeCounts(request.counts, rules)) {
          outcomes[item.key] = (outcomes[item.key] || 0) + item.value;
        }
      }
      const cell = (key, label, value) => h("div", { dataset: { outcome: key } }, h("dt", label), h("dd", String(value)));
      replace(totals,
        h("h2", { id: "requests-totals" }, t("At a glance")),
        h("dl.counts", { "aria-labelledby": "requests-totals" },
          cell("requests", t("Requests"), requests.length),
          cell("active", t("Active"), byStatus.active || 0),
          cell("pending_approval", t("Awaiting approval"), byStatus.pending_approval || 0),
          cell("asked", t("Cameras asked"), asked),
          cell("approved", t("Approved"), rules.uploadable.reduce((sum, state) => sum + (outcomes[state] || 0), 0)),
          cell("delivered", t("Delivered"), outcomes.delivered || 0),
          cell("declined", t("Declined"), outcomes.declined || 0),
          cell("no_footage", t("No footage"), outcomes.no_footage || 0)));
    }

    function card(request) {
      const mine = request.officer_id === ctx.user.id;
      return h("li", { dataset: { requestId: String(request.id), status: request.status } },
        h("h3", h("a.stretch", { href: `#/officer/requests/${request.id}` },
          t("Case %(case_number)s", { case_number: request.case_number }), h("span.visually-hidden", `, ${request.incident_type}`))),
        h("p.meta", pill(request.status), " ", request.incident_type, mine ? t(" · yours") : "",
          request.self_approved ? [" · ", h("strong.self-approved", "self-approved")] : null),
        h("p.meta", formatWindow(request.window_start, request.window_end), " · ", formatMetres(request.radius_m)),
        h("p.meta.counts-sentence", countsSentence(request, rules)),
        request.status === "active" && request.expires_at
          ? h("p.meta", t("Owners can answer; it closes %(relative)s.", { relative: relativeTime(request.expires_at) }))
          : null);
    }

    function drawList(requests) {
      if (requests.length === 0) {
        replace(list, h("p.empty", status
          ? t("No requests are %(status)s.", { status: STATUS_WORDS[status].toLowerCase() })
          : t("Your agency has made no footage requests yet.")),
        h("p", h("a.button.primary", { href: "#/officer/new" }, t("New request"))));
        return;
      }
      // Keep focus on the link it was on when the list is redrawn.
      const focused = document.activeElement && list.contains(document.activeElement)
        ? document.activeElement.closest("li")?.dataset.requestId : null;
      const ul = h("ul.cards.request-cards", { "aria-label": t("Requests") }, requests.map(card));
      replace(list, ul);
      if (focused) {
        ul.querySelector(`li[data-request-id="${focused}"] a`)?.focus();
      }
    }

    function announceChanges(requests) {
      const now = new Map(requests.map((r) => [r.id, `${r.status}|${JSON.stringify(r.counts)}`]));
      if (last) {
        const changed = requests.filter((r) => last.has(r.id) && last.get(r.id) !== now.get(r.id));
        const added = requests.filter((r) => !last.has(r.id));
        const parts = [];
        if (changed.length) {
          parts.push(changed.length === 1
            ? t("Case %(case_number)s updated: %(counts)s.",
              { case_number: changed[0].case_number, counts: countsSentence(changed[0], rules) })
            : t("%(length)s requests updated.", { length: changed.length }));
        }
        if (added.length) {
          parts.push(tn("%(count)s new request.", "%(count)s new requests.", added.length));
        }
        if (parts.length) {
          ctx.announce(parts.join(" "));
        }
      }
      last = now;
    }

    await load({ first: true });
    const stop = poll((options) => load(options), POLL_MS);
    const node = h("section.officer",
      h("h1", t("Footage requests")),
      h("div.actions", h("a.button.primary", { href: "#/officer/new" }, t("New request")),
        ctx.user.role === "supervisor" ? h("a.button", { href: "#/officer/approvals" }, t("Approval queue")) : null,
        ctx.user.role === "supervisor" ? h("a.button", { href: "#/oversight/complaints" }, t("Complaint log")) : null),
      h("div.field", h("label", { for: "requests-filter" }, t("Show")), filter),
      totals,
      h("h2", status ? STATUS_WORDS[status] : t("All requests")),
      list,
      updated);
    return {
      node,
      cleanup() {
        closed = true;
        stop();
      },
    };
  },
};
