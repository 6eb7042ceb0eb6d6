// The district dashboard: participation in total (invited, enrolled, cameras registered
// and active) and per member, with search, a status filter and paging; the CSV export,
// the printable QR sheet and the SMS invitations (after a confirmation, with what was
// queued and skipped, and when to try again when they are rate-limited).
//
// Managers see their members' participation only: never requests, asks or footage.

import { get } from "../../api.js";
import { debounce } from "../../timing.js";
import { confirmInPlace, errorCard, formatDateTime, h, loading, pill, replace, time } from "../../ui.js";
import { countsList, postWithRetry, retryWhen } from "./common.js";
import { N_, t, tn, withElements } from "../../i18n.js";

const PAGE_SIZE = 25;
// Members per QR sheet download (the server allows DISTRICT_PDF_MAX_MEMBERS, 600 by default).
const SHEET_SIZE = 500;
// The API's "invited" status is every member not enrolled yet (sent an invitation or not).
const STATUSES = [["", t("All members")], ["invited", t("Not enrolled yet")], ["enrolled", t("Enrolled")]];

function codeText(code) {
  if (!code) {
    return null;
  }
  if (typeof code === "string") {
    return code.length === 8 ? `${code.slice(0, 4)}-${code.slice(4)}` : code;
  }
  return code.display_code || code.code || null;
}

function memberCard(member) {
  const code = member.code_display || codeText(member.code);
  const contact = [member.phone, member.email].filter(Boolean);
  return h("li.member-card", { dataset: { memberId: String(member.id), status: member.status } },
    h("h3", member.business_name),
    h("p.meta", pill(member.status === "enrolled" ? "enrolled" : member.invited_at ? "invited" : "not_invited"),
      member.member_ref ? t(" Ref. %(member_ref)s", { member_ref: member.member_ref }) : null),
    member.contact_name ? h("p.member-contact", member.contact_name) : null,
    contact.length ? h("p.meta.member-reach", contact.join(" · ")) : null,
    member.address ? h("p.meta", member.address) : null,
    h("dl.member-cameras",
      h("div", h("dt", t("Cameras expected")), h("dd", String(member.cameras_expected ?? "–"))),
      h("div", { dataset: { count: "registered" } }, h("dt", t("Registered")), h("dd", String(member.cameras_registered ?? 0))),
      h("div", { dataset: { count: "active" } }, h("dt", t("Active")), h("dd", String(member.cameras_active ?? 0)))),
    member.status === "enrolled"
      ? h("p.meta", member.enrolled_at ? withElements(t("Enrolled %(when)s."), { when: time(member.enrolled_at) })
        : t("Enrolled."))
      : h("p.meta", member.invited_at
        ? withElements(t("Invited %(when)s, not enrolled yet."), { when: time(member.invited_at) })
        : t("Not invited yet."),
      code ? [" ", withElements(member.code_status && member.code_status !== "active"
        ? t("Enrollment code %(code)s (%(status)s).", { status: member.code_status })
        : t("Enrollment code %(code)s."), { code: h("span.code", code) })] : null));
}

// "Members 1–50 of 120." (" found" after a search or a filter), each case one whole sentence.
function rangeText(first, last, total, filtered) {
  const values = { first, last, total };
  if (total === null) {
    return filtered ? t("Members %(first)s–%(last)s found.", values) : t("Members %(first)s–%(last)s.", values);
  }
  return filtered ? t("Members %(first)s–%(last)s of %(total)s found.", values)
    : t("Members %(first)s–%(last)s of %(total)s.", values);
}

export default {
  title: N_("District dashboard"),
  async render(ctx) {
    let closed = false;
    const state = {
      q: ctx.query.get("q") || "",
      status: STATUSES.some(([value]) => value === ctx.query.get("status")) ? ctx.query.get("status") : "",
      offset: Math.max(0, Number.parseInt(ctx.query.get("offset") || "0", 10) || 0),
    };

    const dashboard = await get("/api/district/dashboard");
    if (!ctx.current) {
      return null;
    }
    const heading = h("h1", t("District dashboard"));
    if (!dashboard.ok) {
      return h("section.manager", heading,
        errorCard(dashboard.error, () => ctx.navigate("/district/members", { replace: true })));
    }
    let totals = dashboard.data;
    const districtName = (totals.district && totals.district.name) || "";

    // --- totals ---------------------------------------------------------------------------

    const totalsBody = h("div");
    const totalsBox = h("section.district-totals", { "aria-labelledby": "district-totals-title" },
      h("h2", { id: "district-totals-title" }, t("Participation")), totalsBody);
    function drawTotals() {
      replace(totalsBody,
        countsList(t("Participation"), [
          ["members", t("Members"), totals.members],
          ["invited", t("Invited"), totals.invited],
          ["enrolled", t("Enrolled"), totals.enrolled],
          ["cameras_expected", t("Cameras expected"), totals.cameras_expected],
          ["cameras_registered", t("Cameras registered"), totals.cameras_registered],
          ["cameras_active", t("Cameras active"), totals.cameras_active]]),
        h("p.hint", t("Invited: sent an SMS invitation or printed on a QR sheet.")),
        totals.members ? null : h("p.empty", withElements(t("No members yet: %(import)s to start."),
          { import: h("a", { href: "#/district/import" }, t("import your member spreadsheet")) })));
    }
    drawTotals();

    // After invitations went out: the totals and the list say who was invited.
    async function refresh() {
      const answer = await get("/api/district/dashboard");
      if (closed) {
        return;
      }
      if (answer.ok) {
        totals = answer.data;
        drawTotals();
      }
      loadMembers();
    }

    // --- invitations and exports ------------------------------------------------------------

    const smsResult = h("div.sms-result", { role: "status", "aria-live": "polite" });
    const smsShown = (answer, box, restart) => {
      const again = restart();
      showSmsAnswer(answer);
      (smsResult.querySelector("[tabindex]") || again).focus();
    };
    const smsBox = confirmInPlace({
      className: "sms-invite",
      label: t("Send SMS invitations…"),
      startClass: "primary",
      question: () => tn("Send an SMS invitation with their enrollment link to the %(count)s member not enrolled "
        + "yet? Members who opted out of text messages, have no mobile number or were already sent one are skipped.",
      "Send an SMS invitation with their enrollment link to the %(count)s members not enrolled yet? Members who "
        + "opted out of text messages, have no mobile number or were already sent one are skipped.", waitingCount),
      groupLabel: t("Confirm sending SMS invitations"),
      yes: t("Yes, send the invitations"),
      no: t("Cancel"),
      tone: "primary",
      act: () => {
        replace(smsResult, h("p.loading", t("Sending…")));
        return postWithRetry("/api/district/invitations/sms", {});
      },
      onDone: smsShown,
      onRefused: smsShown,
    });

    function showSmsAnswer(answer) {
      if (answer.ok) {
        const data = answer.data || {};
        const skipped = (data.skipped_opted_out || 0) + (data.skipped_no_phone || 0) + (data.skipped_enrolled || 0)
          + (data.skipped_already_invited || 0);
        const title = h("p.sms-headline", { tabindex: "-1" },
          h("strong", data.queued ? tn("%(count)s invitation queued.", "%(count)s invitations queued.", data.queued)
            : t("No invitation was sent.")),
          data.queued ? t(" They go out over the next minutes.") : "");
        replace(smsResult, h("div.success", { dataset: { result: "sms" } },
          title,
          countsList(t("SMS invitations"), [
            ["queued", t("Queued"), data.queued],
            ["skipped_opted_out", t("Skipped: opted out"), data.skipped_opted_out],
            ["skipped_no_phone", t("Skipped: no mobile number"), data.skipped_no_phone],
            ["skipped_enrolled", t("Skipped: already enrolled"), data.skipped_enrolled],
            ["skipped_already_invited", t("Skipped: already sent"), data.skipped_already_invited]]),
          data.skipped_no_phone ? h("p.hint", t("Members without a mobile number get their code from the printed QR sheet."))
            : null,
          data.message ? h("p.hint", data.message) : null));
        ctx.announce(tn("%(count)s invitation queued, %(skipped)s skipped.",
          "%(count)s invitations queued, %(skipped)s skipped.", data.queued || 0, { skipped }));
        if (data.queued) {
          refresh();
        }
        return;
      }
      const rateLimited = answer.status === 429;
      replace(smsResult, h("div.alert", { dataset: { status: String(answer.status) } },
        h("p", { tabindex: "-1" }, h("strong", rateLimited ? t("Too many invitations were sent just now.") : t("The invitations were not sent."))),
        h("p", rateLimited
          ? t("Porchlight limits how fast text messages go out. You can send again %(when)s.",
            { when: retryWhen(answer.retryAfter) })
          : answer.error.message),
        rateLimited && answer.error.message ? h("p.hint", answer.error.message) : null));
    }

    const waitingCount = totals.not_enrolled ?? Math.max(0, (totals.members || 0) - (totals.enrolled || 0));
    const sheets = [];
    if (waitingCount === 0) {
      // Nothing to print: everyone enrolled, or no member yet.
    } else if (waitingCount <= SHEET_SIZE) {
      sheets.push(h("a.button", { href: "/api/district/invitations.pdf", download: "" }, t("Print QR sheet (PDF)")));
    } else {
      for (let offset = 0; offset < waitingCount; offset += SHEET_SIZE) {
        const last = Math.min(waitingCount, offset + SHEET_SIZE);
        sheets.push(h("a", { href: `/api/district/invitations.pdf?offset=${offset}&limit=${SHEET_SIZE}`, download: "" },
          t("QR sheet, members %(first)s–%(last)s (PDF)", { first: offset + 1, last })));
      }
    }

    const tools = h("section.district-tools", { "aria-labelledby": "district-tools-title" },
      h("h2", { id: "district-tools-title" }, t("Invitations and exports")),
      h("div.actions",
        h("a.button", { href: "#/district/import" }, t("Import members")),
        h("a.button", { href: "/api/district/members.csv", download: "" }, t("Export members (CSV)")),
        sheets.length === 1 ? sheets[0] : null),
      sheets.length > 1 ? h("div.sheet-links",
        h("p", tn("%(count)s member is not enrolled yet: print their QR sheet in parts.",
          "%(count)s members are not enrolled yet: print their QR sheet in parts.", waitingCount)),
        h("ul.plain-list", sheets.map((link) => h("li", link)))) : null,
      h("p.hint", t("The QR sheet has one QR code per member not enrolled yet, with the business’s name, "
        + "for door-to-door enrollment.")),
      smsBox,
      smsResult);

    // --- members -----------------------------------------------------------------------------

    const search = h("input", { id: "member-search", name: "q", type: "search", value: state.q,
      autocomplete: "off", enterKeyHint: "search" });
    const filter = h("select", { id: "member-status", name: "status" },
      STATUSES.map(([value, text]) => h("option", { value, selected: value === state.status }, text)));
    const filters = h("form.member-filters", { role: "search", "aria-label": t("Find members") },
      h("div.field", h("label", { for: "member-search" }, t("Search by name, reference, phone or e-mail")), search),
      h("div.field", h("label", { for: "member-status" }, t("Show")), filter));
    const listBox = h("div.member-list-box", loading(t("Loading members…")));
    const pager = h("nav.pager", { "aria-label": t("Pages of members") });
    const found = h("p.member-count", { role: "status", "aria-live": "polite" });

    function remember() {
      const query = new URLSearchParams();
      if (state.q) { query.set("q", state.q); }
      if (state.status) { query.set("status", state.status); }
      if (state.offset) { query.set("offset", String(state.offset)); }
      const text = query.toString();
      history.replaceState(null, "", `#/district/members${text ? `?${text}` : ""}`);
    }

    let loadTicket = 0;
    async function loadMembers({ focusList = false } = {}) {
      const ticket = ++loadTicket;
      const query = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(state.offset) });
      if (state.q) { query.set("q", state.q); }
      if (state.status) { query.set("status", state.status); }
      listBox.setAttribute("aria-busy", "true");
      const answer = await get(`/api/district/members?${query}`);
      if (closed || ticket !== loadTicket) {
        return;
      }
      listBox.removeAttribute("aria-busy");
      remember();
      if (!answer.ok) {
        replace(listBox, errorCard(answer.error, () => loadMembers()));
        replace(pager);
        found.textContent = "";
        return;
      }
      const data = answer.data;
      const members = Array.isArray(data) ? data : data.members || data.items || [];
      const total = Array.isArray(data) ? null : (data.total ?? data.count ?? null);
      if (!members.length && state.offset > 0) {
        state.offset = 0; // a filter narrowed the list below the page shown
        loadMembers({ focusList });
        return;
      }
      const first = members.length ? state.offset + 1 : 0;
      const last = state.offset + members.length;
      found.textContent = members.length
        ? rangeText(first, last, total, Boolean(state.q || state.status))
        : (state.q || state.status ? t("No member matches.") : t("No members yet."));
      replace(listBox, members.length
        ? h("ul.cards.member-list", { "aria-label": t("Members"), tabindex: "-1" }, members.map(memberCard))
        : h("p.empty", state.q || state.status ? t("No member matches the search.") : t("No members yet.")));
      drawPager(members.length, total);
      if (focusList) {
        (listBox.querySelector("ul") || found).focus();
      }
    }

    function drawPager(shown, total) {
      const hasMore = total !== null ? state.offset + shown < total : shown === PAGE_SIZE;
      if (!state.offset && !hasMore) {
        replace(pager);
        return;
      }
      const previous = h("button", { type: "button", disabled: state.offset === 0 }, t("Previous page"));
      const next = h("button", { type: "button", disabled: !hasMore }, t("Next page"));
      previous.addEventListener("click", () => {
        state.offset = Math.max(0, state.offset - PAGE_SIZE);
        loadMembers({ focusList: true });
      });
      next.addEventListener("click", () => {
        state.offset += PAGE_SIZE;
        loadMembers({ focusList: true });
      });
      const page = Math.floor(state.offset / PAGE_SIZE) + 1;
      const pages = total !== null ? Math.max(1, Math.ceil(total / PAGE_SIZE)) : null;
      replace(pager, h("div.actions", previous, next),
        h("p.hint", pages ? t("Page %(page)s of %(pages)s", { page, pages }) : t("Page %(page)s", { page })));
    }

    const searchLater = debounce(() => { state.offset = 0; loadMembers(); }, 350);
    search.addEventListener("input", () => {
      const value = search.value.trim();
      if (value !== state.q) {
        state.q = value;
        searchLater();
      }
    });
    filter.addEventListener("change", () => {
      state.status = filter.value;
      state.offset = 0;
      searchLater.cancel();
      loadMembers();
    });
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      state.q = search.value.trim();
      state.offset = 0;
      searchLater.cancel();
      loadMembers({ focusList: true });
    });

    loadMembers();
    return {
      node: h("section.manager.district-dashboard",
        heading,
        h("p.lead", districtName ? `${districtName}: ` : "", t("who was invited, who enrolled, and their cameras.")),
        totalsBox,
        tools,
        h("section.district-members", { "aria-labelledby": "district-members-title" },
          h("h2", { id: "district-members-title" }, t("Members")),
          filters,
          found,
          listBox,
          pager),
        h("p.hint", t("Porchlight shows districts who joined and their cameras — never the requests or footage "
          + "members answer."), " ", t("Figures as of %(when)s.", { when: formatDateTime(new Date().toISOString()) }))),
      cleanup() {
        closed = true;
        searchLater.cancel();
      },
    };
  },
};
