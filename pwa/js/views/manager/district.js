// The district manager's codes screen: the district's enrollment codes with their QR images
// for print, who joined with them (members by number: managers see no footage and no
// requests), issuing and withdrawing codes. Bulk enrollment from a spreadsheet, the
// dashboard, SMS invitations and the QR sheet are in members.js and import.js; the
// single-use codes a bulk import issues (one per member) are folded away here.

import { get, post } from "../../api.js";
import { clearErrors, setBusy, showErrors } from "../../forms.js";
import {
  confirmInPlace, errorCard, field, formError, formatDateTime, h, loading, pill, replace, time,
} from "../../ui.js";
import { N_, t, tn, withElements } from "../../i18n.js";

const MEMBER_CODES = 25; // codes whose uses are read for the member list
const SINGLE_CODES_SHOWN = 10; // single-use codes drawn before "Show all"

export default {
  title: N_("Enrollment codes"),
  async render(ctx) {
    const first = await get("/api/enrollment/codes");
    if (!ctx.current) {
      return null;
    }
    if (!first.ok) {
      return h("section", h("h1", t("District")),
        errorCard(first.error, () => ctx.navigate("/district", { replace: true })));
    }
    let codes = first.data;
    let closed = false;

    const heading = h("h1", t("Your district"));
    const subtitle = h("p.lead", t("Members join with the codes below: they scan the QR code or type the code when they sign up."));
    const totals = h("div.district-totals");
    const codeList = h("ul.cards.code-list", { "aria-label": t("Enrollment codes") });
    const noCodes = h("p.empty", t("No enrollment code yet: issue one below."));
    const members = h("div.members", loading(t("Loading members…")));
    const issued = h("div", { role: "status" });

    // The district's and agency's names, from the public lookup of a usable code.
    async function names() {
      const active = codes.find((code) => code.status === "active");
      if (!active) {
        return;
      }
      const answer = await get(`/api/enrollment/lookup/${encodeURIComponent(active.code)}`);
      if (closed || !answer.ok) {
        return;
      }
      const { district, agency } = answer.data;
      if (district) {
        heading.textContent = district.name;
      }
      subtitle.textContent = t("Business improvement district of %(name)s. Members join with the codes below: they "
        + "scan the QR code or type the code when they sign up.", { name: agency.name });
    }

    function drawTotals() {
      const joined = codes.reduce((sum, code) => sum + code.use_count, 0);
      const active = codes.filter((code) => code.status === "active");
      const cell = (key, label, value) => h("div", { dataset: { total: key } }, h("dt", label), h("dd", String(value)));
      replace(totals, h("dl.counts", { "aria-label": t("Participation") },
        cell("members", t("Members joined"), joined),
        cell("active", t("Active codes"), active.length),
        cell("left", t("Uses left"), active.reduce((sum, code) => sum + code.uses_left, 0))));
    }

    function codeCard(code) {
      const titleId = `code-${code.id}-title`;
      const uses = h("div.code-uses");
      const usesToggle = h("details", h("summary", t("Who joined with this code")), uses);
      usesToggle.addEventListener("toggle", async () => {
        if (!usesToggle.open || uses.dataset.loaded) {
          return;
        }
        replace(uses, loading());
        const answer = await get(`/api/enrollment/codes/${code.id}/uses`);
        if (closed) {
          return;
        }
        if (!answer.ok) {
          replace(uses, errorCard(answer.error));
          return;
        }
        uses.dataset.loaded = "true";
        replace(uses, answer.data.length
          ? h("ul.plain", answer.data.map((use) => h("li", withElements(t("Member %(owner_id)s joined %(when)s", { owner_id: use.owner_id }),
            { when: time(use.used_at) }))))
          : h("p.empty", t("Nobody has used this code yet.")));
      });
      const li = h("li.code-card", { dataset: { codeId: String(code.id), status: code.status } },
        h("h3", { id: titleId }, code.label),
        h("p.meta", pill(code.status), " ", code.kind === "single" ? t("single use") : t("campaign code")),
        h("p.code.code-value", code.display_code),
        h("p.meta", code.kind === "single"
          ? (code.use_count ? t("Used.") : t("Not used yet."))
          : t("Used %(use_count)s of %(max_uses)s times (%(uses_left)s left).", { use_count: code.use_count, max_uses: code.max_uses, uses_left: code.uses_left }),
        " ", withElements(code.revoked_at ? t("Withdrawn %(when)s.")
          : code.status === "expired" ? t("Expired %(when)s.") : t("Expires %(when)s."),
        { when: time(code.revoked_at || code.expires_at) })),
        code.status === "active" ? h("figure.qr",
          h("img", { src: code.qr_png_url, width: 160, height: 160, loading: "lazy",
            alt: t("QR code for enrollment code %(display_code)s", { display_code: code.display_code }) }),
          h("figcaption.hint", withElements(t("Scanning it opens %(url)s"), { url: h("span.url", code.url) }))) : null,
        h("div.actions",
          h("a.button", { href: code.qr_svg_url, target: "_blank", rel: "noopener" }, t("QR for print (SVG)"),
            h("span.visually-hidden", t(" for %(label)s", { label: code.label }))),
          h("a.button", { href: code.qr_png_url, download: `enroll-${code.code}.png` }, t("Download PNG"),
            h("span.visually-hidden", t(" for %(label)s", { label: code.label })))),
        usesToggle);
      if (code.status === "active") {
        li.append(revokeControl(code));
      }
      return li;
    }

    function revokeControl(code) {
      return confirmInPlace({
        className: "revoke",
        label: t("Withdraw this code"),
        hiddenLabel: `: ${code.label}`,
        question: t("Withdraw “%(label)s”? Nobody can join with it from now on; members who joined stay members.", { label: code.label }),
        groupLabel: t("Confirm withdrawing the code"),
        yes: t("Yes, withdraw it"),
        no: t("Keep it"),
        act: () => post(`/api/enrollment/codes/${code.id}/revoke`),
        onDone: (answer) => {
          codes = codes.map((c) => (c.id === code.id ? answer.data : c));
          const card = codeCard(answer.data);
          codeList.querySelector(`li[data-code-id="${code.id}"]`)?.replaceWith(card);
          drawTotals();
          ctx.announce(t("Code %(label)s withdrawn.", { label: code.label }));
          card.querySelector("h3").setAttribute("tabindex", "-1");
          card.querySelector("h3").focus();
        },
      });
    }

    // A bulk import issues one single-use code per member: past a few, they wait behind a button.
    let allSingles = false;
    const moreSingles = h("button.more-codes", { type: "button", hidden: true });
    moreSingles.addEventListener("click", () => {
      allSingles = true;
      const before = codeList.children.length;
      drawCodes();
      const first = codeList.children[before]?.querySelector("h3");
      if (first) {
        first.setAttribute("tabindex", "-1");
        first.focus();
      }
    });

    function drawCodes() {
      let singles = 0;
      const shown = codes.filter((code) => code.kind !== "single" || allSingles || ++singles <= SINGLE_CODES_SHOWN);
      const hiddenCount = codes.length - shown.length;
      replace(codeList, shown.map(codeCard));
      noCodes.hidden = codes.length > 0;
      moreSingles.hidden = hiddenCount === 0;
      moreSingles.textContent = tn("Show %(count)s more single-use code", "Show %(count)s more single-use codes",
        hiddenCount);
    }

    async function loadMembers() {
      const withUses = codes.filter((code) => code.use_count > 0).slice(0, MEMBER_CODES);
      const answers = await Promise.all(withUses.map((code) => get(`/api/enrollment/codes/${code.id}/uses`)));
      if (closed) {
        return;
      }
      const joined = [];
      answers.forEach((answer, index) => {
        if (answer.ok) {
          for (const use of answer.data) {
            joined.push({ ...use, code: withUses[index] });
          }
        }
      });
      joined.sort((a, b) => new Date(b.used_at) - new Date(a.used_at));
      replace(members,
        joined.length
          ? h("ul.cards.member-list", { "aria-label": t("Members") }, joined.map((use) => h("li",
            h("p", withElements(t("%(member)s %(state)s joined"), {
              member: h("strong", t("Member %(owner_id)s", { owner_id: use.owner_id })), state: pill("active") })),
            h("p.meta", time(use.used_at), t(" with “%(label)s”", { label: use.code.label })))))
          : h("p.empty", t("Nobody has joined with your codes yet.")),
        h("p.hint", t("Porchlight shows districts who joined and when — never the requests or footage members answer. " +
          "Members are listed by number; each can leave at any time.")));
    }

    // --- issue a code --------------------------------------------------------------------------

    const labelInput = h("input", { id: "code-label", name: "label", type: "text", maxLength: 120, required: true,
      autocomplete: "off" });
    const kindSelect = h("select", { id: "code-kind", name: "kind" },
      h("option", { value: "campaign" }, t("Campaign code (many members)")),
      h("option", { value: "single" }, t("Single use (one member)")));
    const maxUses = h("input", { id: "code-max-uses", name: "max_uses", type: "number", min: 1, max: 100000,
      value: "100", inputMode: "numeric" });
    const maxUsesField = field(t("How many members may use it"), maxUses);
    const expires = h("input", { id: "code-expires", name: "expires_at", type: "date" });
    const issueForm = h("form.issue-form", { novalidate: true }, formError(),
      field(t("What the code is for"), labelInput, { hint: t("For example: “Riverwest block party” or a business’s name.") }),
      field(t("Kind"), kindSelect),
      maxUsesField,
      field(t("Valid until"), expires, { optional: true, hint: t("Default: 90 days for a campaign code, 30 days for single use.") }),
      h("button.primary", { type: "submit" }, t("Issue the code")));
    kindSelect.addEventListener("change", () => { maxUsesField.hidden = kindSelect.value !== "campaign"; });
    issueForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(issueForm);
      const body = { label: labelInput.value.trim(), kind: kindSelect.value };
      if (body.kind === "campaign") {
        body.max_uses = maxUses.value === "" ? null : Number(maxUses.value);
      }
      if (expires.value) {
        // The end of the chosen day on this device.
        body.expires_at = new Date(`${expires.value}T23:59:00`).toISOString();
      }
      if (!body.label) {
        showErrors(issueForm, { message: t("Please check the fields marked below."),
          fields: { label: [t("Say what the code is for.")] } });
        return;
      }
      setBusy(issueForm, true);
      const answer = await post("/api/enrollment/codes", body);
      setBusy(issueForm, false);
      if (closed) {
        return;
      }
      if (!answer.ok) {
        showErrors(issueForm, answer.error);
        return;
      }
      codes = [answer.data, ...codes];
      issueForm.reset();
      maxUsesField.hidden = false;
      drawCodes();
      drawTotals();
      replace(issued, h("p.success", t("Code %(display_code)s issued for “%(label)s”. ", { display_code: answer.data.display_code, label: answer.data.label }),
        t("Its QR code is at the top of the list.")));
      ctx.announce(t("Code %(display_code)s issued.", { display_code: answer.data.display_code }));
    });

    drawTotals();
    drawCodes();
    names();
    loadMembers();
    return {
      node: h("section.manager",
        heading,
        subtitle,
        totals,
        h("h2", t("Enrollment codes")),
        noCodes,
        codeList,
        moreSingles,
        h("h2", t("Members")),
        members,
        h("h2", t("Issue a code")),
        issued,
        issueForm,
        h("h2", t("Bulk enrollment")),
        h("p", t("Enroll many member businesses at once from a spreadsheet: each gets a single-use code, "
          + "an SMS invitation and a place on the printable QR sheet.")),
        h("div.actions",
          h("a.button", { href: "#/district/import" }, t("Import members")),
          h("a.button", { href: "#/district/members" }, t("Dashboard and invitations"))),
        h("p.hint", t("Shown as of %(when)s.", { when: formatDateTime(new Date().toISOString()) }))),
      cleanup() {
        closed = true;
      },
    };
  },
};
