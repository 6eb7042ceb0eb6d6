// The owner's filters, a section of Settings: requests they catch are declined as they
// arrive, without a notification (GET/PATCH /api/me/filters). "Pause all requests" with
// a return date, the agencies answered, the oldest footage given, and the offense
// categories always declined. The agency sees such a decline as one more decline among
// the others, never whose; the owner finds it in the inbox and history.

import { get, patch } from "./api.js";
import { clearErrors, setBusy, showErrors } from "./forms.js";
import { errorCard, field, formatDateTime, formError, h, loading, replace } from "./ui.js";
import { t } from "./i18n.js";

// yyyy-mm-dd of a local day (what <input type=date> takes).
function dayValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function checkbox(id, name, value, checked, label) {
  return h("label.check", { for: id },
    h("input", { id, name, type: "checkbox", value: String(value), checked }), label);
}

function checkedValues(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((box) => box.value);
}

// Paused: until when, and "Resume now". Not paused: a return date and "Pause".
function pausePart(ctx, filters, redraw) {
  const status = h("p.hint", { role: "status", "aria-live": "polite" });
  if (filters.paused) {
    const resume = h("button", { type: "button" }, t("Resume requests now"));
    resume.addEventListener("click", async () => {
      resume.disabled = true;
      const answer = await patch("/api/me/filters", { paused_until: null });
      resume.disabled = false;
      if (!answer.ok) {
        status.textContent = answer.error.message;
        return;
      }
      redraw(answer.data, t("Requests resumed: new ones reach you again."));
    });
    return h("div.pause-state",
      h("p", h("strong", t("All requests are paused until %(date)s.", { date: formatDateTime(filters.paused_until) }))),
      h("p", t("Each new request is declined as it arrives, and you are not notified. They resume by themselves "
        + "on that date.")),
      resume, status);
  }
  const tomorrow = new Date();
  tomorrow.setDate(tomorrow.getDate() + 1);
  const input = h("input", { id: "filters-pause", name: "paused_until", type: "date", min: dayValue(tomorrow) });
  const form = h("form.pause-form", { novalidate: true },
    formError(),
    field(t("Pause all requests until"), input,
      { hint: t("For a holiday or a busy time: until that date every request is declined for you.") }),
    h("button", { type: "submit" }, t("Pause requests")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!input.value) {
      showErrors(form, { fields: { paused_until: [t("Choose the date requests resume.")] } });
      return;
    }
    setBusy(form, true);
    // Requests resume at the start of that day, here.
    const answer = await patch("/api/me/filters", { paused_until: new Date(`${input.value}T00:00`).toISOString() });
    setBusy(form, false);
    if (!answer.ok) {
      showErrors(form, answer.error);
      return;
    }
    redraw(answer.data, t("All requests paused."));
  });
  return form;
}

function rulesForm(ctx, filters, redraw) {
  const every = filters.agency_ids === null;
  const maxAge = h("input", { id: "filters-max-age", name: "max_footage_age_days", type: "number", min: 1, max: 365,
    inputMode: "numeric", value: filters.max_footage_age_days ?? "" });
  const form = h("form.filters-form", { novalidate: true },
    formError(),
    filters.agencies.length > 1 ? h("fieldset.agency-filter",
      h("legend", t("Agencies whose requests you answer")),
      filters.agencies.map((agency) => checkbox(`filters-agency-${agency.id}`, "agency_ids", agency.id,
        every || filters.agency_ids.includes(agency.id), agency.name))) : null,
    field(t("Decline requests for footage older than (days)"), maxAge, { optional: true,
      hint: t("Leave empty to decide on each request, however old the footage.") }),
    filters.categories.length ? h("fieldset.category-filter",
      h("legend", t("Always decline requests about")),
      filters.categories.map((category) => checkbox(`filters-category-${category.key}`, "declined_categories",
        category.key, filters.declined_categories.includes(category.key), category.label))) : null,
    h("button.primary", { type: "submit" }, t("Save filters")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = {
      max_footage_age_days: maxAge.value ? Number(maxAge.value) : null,
      declined_categories: checkedValues(form, "declined_categories"),
    };
    if (filters.agencies.length > 1) {
      const chosen = checkedValues(form, "agency_ids").map(Number);
      body.agency_ids = chosen.length === filters.agencies.length ? null : chosen;
    }
    setBusy(form, true);
    const answer = await patch("/api/me/filters", body);
    setBusy(form, false);
    if (!answer.ok) {
      showErrors(form, answer.error);
      return;
    }
    redraw(answer.data, t("Filters saved."));
  });
  return form;
}

export function filtersSection(ctx) {
  const body = h("div.filters-body", loading());
  const status = h("p.hint", { role: "status", "aria-live": "polite" });

  function draw(filters, message) {
    const redraw = (next, said) => {
      draw(next, said);
      ctx.announce(said);
    };
    replace(body,
      h("h3", t("Pause")),
      pausePart(ctx, filters, redraw),
      h("h3", t("Standing answers")),
      rulesForm(ctx, filters, redraw),
      status);
    status.textContent = message || "";
  }

  get("/api/me/filters").then((answer) => {
    if (!answer.ok) {
      replace(body, errorCard(answer.error));
      return;
    }
    draw(answer.data);
  });
  return h("section.filters", { "aria-labelledby": "filters-title" },
    h("h2", { id: "filters-title" }, t("Requests you decline automatically")),
    h("p", t("A request these rules catch is declined as it arrives: you are not notified, and it shows in your "
      + "inbox and history as declined by your filter. The agency sees one more decline among the others, never "
      + "whose or why.")),
    body);
}
