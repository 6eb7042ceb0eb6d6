// The supervisor's part of the annual report: the fields Porchlight cannot compute (costs,
// funding source, policy changes), per year. The public report shows them marked as
// entered by the agency; every change is in the audit log with its before and after.
// Everything else on the report is computed: the link opens it.

import { get, patch } from "../../api.js";
import { clearErrors, setBusy, showErrors } from "../../forms.js";
import { errorCard, field, formatDateTime, formError, h, replace } from "../../ui.js";
import { N_, t } from "../../i18n.js";

const FIELDS = [
  ["costs", N_("Costs"), 1000, 3, N_("What the program cost in the year (staff time, equipment, services).")],
  ["funding_source", N_("Funding source"), 1000, 2, null],
  ["policy_changes", N_("Policy changes"), 4000, 6, N_("Changes to the agency's rules for the program during the year.")],
];

function entriesForm(ctx, year, entries, box) {
  const status = h("p.success", { role: "status", tabindex: "-1", hidden: true });
  const form = h("form.report-entries-form", { novalidate: true, "aria-labelledby": "entries-title" },
    h("h2", { id: "entries-title" }, t("Entered by the agency for %(year)s", { year })),
    h("p.hint", t("Shown on the public annual report marked \"entered by the agency, not computed\". Each change is "
      + "recorded in the audit log.")),
    entries.updated_at ? h("p.meta", t("Last changed %(when)s", { when: formatDateTime(entries.updated_at) })) : null,
    formError(),
    FIELDS.map(([name, label, max, rows, hint]) => field(t(label),
      h("textarea", { id: `entries-${name}`, name, rows, maxlength: max }, entries[name] || ""),
      { hint: hint ? t(hint) : null, optional: true })),
    status,
    h("button", { type: "submit" }, t("Save")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    status.hidden = true;
    // Every field is sent: an emptied one is cleared.
    const data = Object.fromEntries(FIELDS.map(([name]) => [name, form.elements.namedItem(name).value.trim() || null]));
    setBusy(form, true);
    const answer = await patch(`/api/agency/reports/${year}/entries`, data);
    setBusy(form, false);
    if (!answer.ok) {
      showErrors(form, answer.error);
      return;
    }
    replace(box, entriesForm(ctx, year, answer.data, box));
    const saved = box.querySelector(".success");
    saved.hidden = false;
    saved.textContent = t("Saved. The public report shows it now.");
    saved.focus();
  });
  return form;
}

export default {
  title: N_("Annual report"),
  async render(ctx) {
    const thisYear = new Date().getFullYear();
    const year = Number(ctx.query.get("year")) || thisYear - 1;
    const agency = await get("/api/agency");
    const answer = await get(`/api/agency/reports/${year}/entries`);
    const box = h("div");
    replace(box, answer.ok ? entriesForm(ctx, year, answer.data, box) : errorCard(answer.error));
    const slug = agency.ok ? agency.data.slug : null;
    return h("section.report-entries",
      h("h1", t("Annual report")),
      h("p.lead", t("The annual report is generated from Porchlight's records for anyone to read; only the fields "
        + "below are typed in by the agency.")),
      h("nav", { "aria-label": t("Years") }, h("p", t("Year:"), " ", [thisYear, thisYear - 1, thisYear - 2].map((y) => [
        y === year ? h("strong", { "aria-current": "page" }, String(y))
          : h("a", { href: `#/officer/report?year=${y}` }, String(y)), " "]))),
      slug ? h("p", h("a", { href: `#/transparency/${encodeURIComponent(slug)}/report/${year}` },
        t("Open the public report for %(year)s", { year }))) : null,
      box);
  },
};
