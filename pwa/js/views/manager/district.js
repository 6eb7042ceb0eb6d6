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

const MEMBER_CODES = 25; // codes whose uses are read for the member list
const SINGLE_CODES_SHOWN = 10; // single-use codes drawn before "Show all"

export default {
  title: "Enrollment codes",
  async render(ctx) {
    const first = await get("/api/enrollment/codes");
    if (!ctx.current) {
      return null;
    }
    if (!first.ok) {
      return h("section", h("h1", "District"),
        errorCard(first.error, () => ctx.navigate("/district", { replace: true })));
    }
    let codes = first.data;
    let closed = false;

    const heading = h("h1", "Your district");
    const subtitle = h("p.lead", "Members join with the codes below: they scan the QR code or type the code when they sign up.");
    const totals = h("div.district-totals");
    const codeList = h("ul.cards.code-list", { "aria-label": "Enrollment codes" });
    const noCodes = h("p.empty", "No enrollment code yet: issue one below.");
    const members = h("div.members", loading("Loading members…"));
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
      subtitle.textContent = `Business improvement district of ${agency.name}. Members join with the codes below: ` +
        "they scan the QR code or type the code when they sign up.";
    }

    function drawTotals() {
      const joined = codes.reduce((sum, code) => sum + code.use_count, 0);
      const active = codes.filter((code) => code.status === "active");
      const cell = (key, label, value) => h("div", { dataset: { total: key } }, h("dt", label), h("dd", String(value)));
      replace(totals, h("dl.counts", { "aria-label": "Participation" },
        cell("members", "Members joined", joined),
        cell("active", "Active codes", active.length),
        cell("left", "Uses left", active.reduce((sum, code) => sum + code.uses_left, 0))));
    }

    function codeCard(code) {
      const titleId = `code-${code.id}-title`;
      const uses = h("div.code-uses");
      const usesToggle = h("details", h("summary", "Who joined with this code"), uses);
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
          ? h("ul.plain", answer.data.map((use) => h("li", `Member ${use.owner_id} joined `, time(use.used_at))))
          : h("p.empty", "Nobody has used this code yet."));
      });
      const li = h("li.code-card", { dataset: { codeId: String(code.id), status: code.status } },
        h("h3", { id: titleId }, code.label),
        h("p.meta", pill(code.status), " ", code.kind === "single" ? "single use" : "campaign code"),
        h("p.code.code-value", code.display_code),
        h("p.meta", code.kind === "single"
          ? (code.use_count ? "Used." : "Not used yet.")
          : `Used ${code.use_count} of ${code.max_uses} times (${code.uses_left} left).`,
        " ", code.revoked_at ? ["Withdrawn ", time(code.revoked_at), "."]
          : [code.status === "expired" ? "Expired " : "Expires ", time(code.expires_at), "."]),
        code.status === "active" ? h("figure.qr",
          h("img", { src: code.qr_png_url, width: 160, height: 160, loading: "lazy",
            alt: `QR code for enrollment code ${code.display_code}` }),
          h("figcaption.hint", "Scanning it opens ", h("span.url", code.url))) : null,
        h("div.actions",
          h("a.button", { href: code.qr_svg_url, target: "_blank", rel: "noopener" }, "QR for print (SVG)",
            h("span.visually-hidden", ` for ${code.label}`)),
          h("a.button", { href: code.qr_png_url, download: `enroll-${code.code}.png` }, "Download PNG",
            h("span.visually-hidden", ` for ${code.label}`))),
        usesToggle);
      if (code.status === "active") {
        li.append(revokeControl(code));
      }
      return li;
    }

    function revokeControl(code) {
      return confirmInPlace({
        className: "revoke",
        label: "Withdraw this code",
        hiddenLabel: `: ${code.label}`,
        question: `Withdraw “${code.label}”? Nobody can join with it from now on; members who joined stay members.`,
        groupLabel: "Confirm withdrawing the code",
        yes: "Yes, withdraw it",
        no: "Keep it",
        act: () => post(`/api/enrollment/codes/${code.id}/revoke`),
        onDone: (answer) => {
          codes = codes.map((c) => (c.id === code.id ? answer.data : c));
          const card = codeCard(answer.data);
          codeList.querySelector(`li[data-code-id="${code.id}"]`)?.replaceWith(card);
          drawTotals();
          ctx.announce(`Code ${code.label} withdrawn.`);
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
      moreSingles.textContent = `Show ${hiddenCount} more single-use code${hiddenCount === 1 ? "" : "s"}`;
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
          ? h("ul.cards.member-list", { "aria-label": "Members" }, joined.map((use) => h("li",
            h("p", h("strong", `Member ${use.owner_id}`), " ", pill("active"), " joined"),
            h("p.meta", time(use.used_at), ` with “${use.code.label}”`))))
          : h("p.empty", "Nobody has joined with your codes yet."),
        h("p.hint", "Porchlight shows districts who joined and when — never the requests or footage members answer. ",
          "Members are listed by number; each can leave at any time."));
    }

    // --- issue a code --------------------------------------------------------------------------

    const labelInput = h("input", { id: "code-label", name: "label", type: "text", maxLength: 120, required: true,
      autocomplete: "off" });
    const kindSelect = h("select", { id: "code-kind", name: "kind" },
      h("option", { value: "campaign" }, "Campaign code (many members)"),
      h("option", { value: "single" }, "Single use (one member)"));
    const maxUses = h("input", { id: "code-max-uses", name: "max_uses", type: "number", min: 1, max: 100000,
      value: "100", inputMode: "numeric" });
    const maxUsesField = field("How many members may use it", maxUses);
    const expires = h("input", { id: "code-expires", name: "expires_at", type: "date" });
    const issueForm = h("form.issue-form", { novalidate: true }, formError(),
      field("What the code is for", labelInput, { hint: "For example: “Riverwest block party” or a business’s name." }),
      field("Kind", kindSelect),
      maxUsesField,
      field("Valid until", expires, { optional: true, hint: "Default: 90 days for a campaign code, 30 days for single use." }),
      h("button.primary", { type: "submit" }, "Issue the code"));
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
        showErrors(issueForm, { message: "Please check the fields marked below.",
          fields: { label: ["Say what the code is for."] } });
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
      replace(issued, h("p.success", `Code ${answer.data.display_code} issued for “${answer.data.label}”. `,
        "Its QR code is at the top of the list."));
      ctx.announce(`Code ${answer.data.display_code} issued.`);
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
        h("h2", "Enrollment codes"),
        noCodes,
        codeList,
        moreSingles,
        h("h2", "Members"),
        members,
        h("h2", "Issue a code"),
        issued,
        issueForm,
        h("h2", "Bulk enrollment"),
        h("p", "Enroll many member businesses at once from a spreadsheet: each gets a single-use code, "
          + "an SMS invitation and a place on the printable QR sheet."),
        h("div.actions",
          h("a.button", { href: "#/district/import" }, "Import members"),
          h("a.button", { href: "#/district/members" }, "Dashboard and invitations")),
        h("p.hint", `Shown as of ${formatDateTime(new Date().toISOString())}.`)),
      cleanup() {
        closed = true;
      },
    };
  },
};
