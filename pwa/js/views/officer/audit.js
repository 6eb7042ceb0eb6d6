// The audit log of supervisors and civilian oversight: the agency's events newest first,
// filtered (action, actor, target, time), paged ("Show older"), the verification of the
// agency's chain and of the sealed history chain it continues, and a CSV export of the same
// selection. Evidence holds show as hold.placed / hold.released. Oversight reads owners'
// events without their account numbers (app/audit/viewer.py).

import { get } from "../../api.js";
import { errorCard, h, loading, replace, time, words } from "../../ui.js";
import { N_, t, tn, withElements } from "../../i18n.js";

const PAGE = 50;
const FILTERS = [
  ["action", t("Action"), "text", t("e.g. hold.placed, or ask.* for every ask event")],
  ["actor_id", t("Actor id"), "number", null],
  ["target_type", t("Target type"), "text", t("e.g. footage_request, clip, evidence_hold")],
  ["target_id", t("Target id"), "text", null],
  ["from", t("From"), "datetime-local", null],
  ["to", t("Until"), "datetime-local", null],
];

// A datetime-local value ("2026-05-01T14:30") is local time; the API wants ISO with a zone.
function isoFromLocal(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function localFromIso(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    return "";
  }
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:`
    + `${pad(date.getMinutes())}`;
}

function apiQuery(filters, extra = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries({ ...filters, ...extra })) {
    if (value !== "" && value !== null && value !== undefined) {
      params.set(name, String(value));
    }
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

function detailsText(details) {
  const entries = Object.entries(details || {});
  if (!entries.length) {
    return null;
  }
  return entries.map(([key, value]) => `${words(key)}: ${typeof value === "object" ? JSON.stringify(value) : value}`)
    .join(" · ");
}

function eventItem(event) {
  // Oversight reads owners' events without the account number: the role alone.
  const actor = event.actor_id ? `${words(event.actor_role || "user")} #${event.actor_id}`
    : event.actor_role === "owner" ? t("an owner") : event.actor_role ? words(event.actor_role) : t("the system");
  const target = event.target_type ? `${words(event.target_type)} ${event.target_id ?? ""}`.trim() : null;
  const details = detailsText(event.details);
  const hold = event.action.startsWith("hold.");
  return h(`li.audit-event${hold ? ".audit-hold" : ""}`,
    { dataset: { seq: String(event.seq), chain: event.chain, action: event.action } },
    h("p.audit-head", h("strong", event.action), h("span.meta-inline", " · ", event.chain === "history"
      ? t("history #%(seq)s", { seq: event.seq }) : `#${event.seq}`)),
    h("p.meta", time(event.occurred_at), " · ", t("by %(actor)s", { actor }), target ? [" · ", target] : null),
    details ? h("p.audit-details", details) : null);
}

// One chain's line: the agency's own (where its writes go) or the sealed history chain it
// continues (everything from before chains were per agency, every agency's events).
function chainLine(chain) {
  const name = chain.kind === "history" ? t("History chain (sealed)") : t("Your agency's chain");
  const head = h("code.hash", { title: chain.last_hash }, `${chain.last_hash.slice(0, 16)}…`);
  const length = tn("%(count)s event", "%(count)s events", chain.length);
  if (chain.ok) {
    return h("li.chain-ok", { dataset: { chain: chain.chain } },
      h("strong", name), ` · ${length} · `, withElements(t("head %(hash)s"), { hash: head }), " · ", t("verified"));
  }
  const problem = chain.problem;
  return h("li.chain-broken", { dataset: { chain: chain.chain } },
    h("strong", name), ` · ${length} · `, withElements(t("head %(hash)s"), { hash: head }), " · ",
    h("strong", t("broken at seq %(seq)s", { seq: problem.seq })), h("br"), problem.message, h("br"),
    h("span.meta", problem.in_your_agency ? t("The event belongs to your agency.") : t("The event is not one of "
      + "your agency's; the operator of this Porchlight has been shown the same position.")));
}

function chainCard(status) {
  const chains = h("ul.chain-list", (status.chains || []).map(chainLine));
  const checked = h("p.meta", withElements(t("Checked %(when)s."), { when: time(status.checked_at) }));
  if (status.ok) {
    return h("div.chain-status.chain-ok", { role: "status" },
      h("p", h("strong", t("Chains verified.")), " ",
        tn("%(count)s event checked, none changed, inserted or deleted.",
          "%(count)s events checked, none changed, inserted or deleted.", status.events_checked)),
      chains, checked);
  }
  return h("div.chain-status.chain-broken", { role: "alert" },
    h("p", h("strong", t("A chain does not verify.")), " ",
      t("Everything after the first problem can no longer be trusted until it is explained.")),
    chains, checked);
}

export default {
  title: N_("Audit log"),
  async render(ctx) {
    const filters = {};
    for (const [name] of FILTERS) {
      filters[name] = ctx.query.get(name) || "";
    }
    const active = FILTERS.filter(([name]) => filters[name]).map(([, label]) => label.toLowerCase()).join(", ");
    const chain = h("div.chain-box", loading(t("Verifying the chains…")));
    const list = h("ul.cards.audit-list", { "aria-label": t("Audit events, newest first") });
    const more = h("button", { type: "button", hidden: true }, t("Show older events"));
    const results = h("div.audit-results", loading());
    const count = h("p.hint", { role: "status", "aria-live": "polite" });
    let cursor = null;
    let shown = 0;

    const inputs = FILTERS.map(([name, label, type, hint]) => {
      const id = `audit-${name}`;
      const input = h("input", { id, name, type, "aria-describedby": hint ? `${id}-hint` : null,
        value: type === "datetime-local" ? localFromIso(filters[name]) : filters[name],
        ...(type === "number" ? { min: 1, inputMode: "numeric" } : {}) });
      return h("div.field",
        h("label", { for: id }, label),
        hint ? h("p.hint", { id: `${id}-hint` }, hint) : null,
        input);
    });
    const form = h("form.audit-filters", { novalidate: true, "aria-label": t("Filter the audit log") },
      h("div.filter-grid", inputs),
      h("div.actions",
        h("button.primary", { type: "submit" }, t("Apply filters")),
        h("a.button", { href: "#/officer/audit" }, t("Clear"))));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const chosen = {};
      for (const [name, , type] of FILTERS) {
        const value = form.elements.namedItem(name).value.trim();
        chosen[name] = type === "datetime-local" && value ? isoFromLocal(value) : value;
      }
      ctx.navigate(`/officer/audit${apiQuery(chosen)}`);
    });

    const csv = h("a.button", { href: `/api/agency/audit.csv${apiQuery(filters)}`, download: "" },
      t("Export these events as CSV"));

    async function loadPage() {
      more.disabled = true;
      const answer = await get(`/api/agency/audit${apiQuery(filters, { limit: PAGE, cursor })}`);
      more.disabled = false;
      if (!ctx.current) {
        return;
      }
      if (!answer.ok) {
        replace(results, errorCard(answer.error, () => loadPage()));
        return;
      }
      for (const event of answer.data.events) {
        list.append(eventItem(event));
      }
      shown += answer.data.events.length;
      cursor = answer.data.next_cursor;
      more.hidden = cursor === null;
      count.textContent = !shown ? ""
        : cursor ? tn("%(count)s event shown; older ones below.", "%(count)s events shown; older ones below.", shown)
          : tn("%(count)s event shown.", "%(count)s events shown.", shown);
      replace(results, shown ? list : h("p.empty", t("No events match these filters.")), more);
    }
    more.addEventListener("click", () => loadPage());

    get("/api/agency/audit/verification").then((answer) => {
      if (ctx.current) {
        replace(chain, answer.ok ? chainCard(answer.data) : errorCard(answer.error));
      }
    });
    await loadPage();
    return h("section.officer.audit",
      h("h1", t("Audit log")),
      h("p", t("Every state change and every access to footage in your agency, in an append-only, hash-chained "
        + "log: your agency's own chain, which continues the sealed history chain of the events from before "
        + "each agency had its own."), " ", ctx.user.role === "oversight"
        ? t("Owners appear without even their account number, and your reads of this log are recorded in it.")
        : t("Owners appear by account number only.")),
      h("h2", t("Chain status")),
      chain,
      h("details.audit-filter-box", { open: Object.values(filters).some(Boolean) },
        h("summary", t("Filter events"), h("span.meta-inline", active ? ` (${active})` : "")),
        form),
      h("p", csv),
      h("h2", t("Events")),
      count,
      results);
  },
};
