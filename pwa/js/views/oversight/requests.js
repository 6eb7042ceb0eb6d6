// Civilian oversight: the agency's footage requests, newest first, a page at a time, with
// each one's purpose, approval and counts. Opening this list is itself an audit event.

import { get } from "../../api.js";
import { errorCard, formatWindow, h, loading, pill, replace } from "../../ui.js";
import { STATUS_WORDS, purposeText, staffName } from "./common.js";
import { N_, t, tn } from "../../i18n.js";

const PAGE = 50;

function card(request) {
  const purpose = purposeText(request);
  const flags = [
    request.exceeded_limits.length ? t("over the limits") : null,
    request.self_approved ? t("self-approved") : null,
    request.held ? t("evidence hold") : null,
    request.complaints ? tn("%(count)s complaint", "%(count)s complaints", request.complaints) : null,
  ].filter(Boolean);
  return h("li", { dataset: { requestId: String(request.id), status: request.status } },
    h("h3", h("a.stretch", { href: `#/oversight/requests/${request.id}` },
      t("Case %(case_number)s", { case_number: request.case_number }))),
    h("p.meta", pill(request.status), " ", request.incident_type, purpose ? ` · ${purpose}` : null),
    h("p.meta", formatWindow(request.window_start, request.window_end), " · ",
      t("by %(name)s", { name: staffName(request.officer) })),
    h("p.meta", t("%(asked)s asked · %(clips)s clips delivered",
      { asked: request.asks_total, clips: request.clips_delivered }),
    flags.length ? [" · ", h("strong", flags.join(" · "))] : null));
}

export default {
  title: N_("Requests"),
  async render(ctx) {
    const status = Object.hasOwn(STATUS_WORDS, ctx.query.get("status") || "") ? ctx.query.get("status") : "";
    const filter = h("select", { id: "oversight-status", name: "status" },
      h("option", { value: "" }, t("All requests")),
      Object.entries(STATUS_WORDS).map(([value, text]) => h("option", { value, selected: value === status }, text)));
    filter.addEventListener("change", () => {
      ctx.navigate(filter.value ? `/oversight/requests?status=${filter.value}` : "/oversight/requests");
    });
    const list = h("ul.cards.request-cards", { "aria-label": t("Requests") });
    const results = h("div.request-list", loading());
    const more = h("button", { type: "button", hidden: true }, t("Show older requests"));
    let before = null;

    async function loadPage() {
      const query = new URLSearchParams({ limit: String(PAGE) });
      if (status) {
        query.set("status", status);
      }
      if (before) {
        query.set("before_id", String(before));
      }
      more.disabled = true;
      const answer = await get(`/api/oversight/requests?${query}`);
      more.disabled = false;
      if (!ctx.current) {
        return;
      }
      if (!answer.ok) {
        replace(results, errorCard(answer.error, () => loadPage()));
        return;
      }
      list.append(...answer.data.map(card));
      before = answer.data.length === PAGE ? answer.data[answer.data.length - 1].id : null;
      more.hidden = before === null;
      replace(results, list.children.length ? list : h("p.empty", t("No requests to show.")), more);
    }
    more.addEventListener("click", () => loadPage());
    await loadPage();
    return h("section.oversight",
      h("h1", t("Footage requests")),
      h("p", t("Read-only: each request's purpose, who approved it and why, and how many owners were asked "
        + "and answered. Never footage, owners or cameras. Your reads are recorded in the audit log.")),
      h("div.field", h("label", { for: "oversight-status" }, t("Show")), filter),
      results);
  },
};
