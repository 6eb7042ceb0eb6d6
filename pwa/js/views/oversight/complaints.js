// The complaint log, kept by supervisors and civilian oversight: complaints against the
// agency's requests, a form to record one, and each one's outcome (with its date and a
// note) to record or change. Recording and changing are audited; oversight's reads too.

import { get, patch, post } from "../../api.js";
import { clearErrors, setBusy, showErrors, values } from "../../forms.js";
import { errorCard, field, formError, h, loading, replace } from "../../ui.js";
import { OUTCOME_WORDS, SOURCE_WORDS } from "./common.js";
import { N_, t } from "../../i18n.js";

function today() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

function select(id, name, choices, selected) {
  return h("select", { id, name }, Object.entries(choices).map(([value, text]) =>
    h("option", { value, selected: value === selected }, text)));
}

// The outcome of one complaint: its fields, saved with PATCH; the card redraws from the answer.
function outcomeForm(complaint, onSaved) {
  const key = `complaint-${complaint.id}`;
  const form = h("form.outcome-form", { novalidate: true, "aria-label": t("Outcome of complaint %(id)s",
    { id: complaint.id }) },
  formError(),
  field(t("Outcome"), select(`${key}-outcome`, "outcome", OUTCOME_WORDS, complaint.outcome)),
  field(t("Outcome date"), h("input", { id: `${key}-outcome-on`, name: "outcome_on", type: "date",
    value: complaint.outcome_on || "" }), { optional: true }),
  field(t("Note"), h("textarea", { id: `${key}-note`, name: "outcome_note", rows: 2, maxlength: 2000 },
    complaint.outcome_note || ""), { optional: true }),
  h("button", { type: "submit" }, t("Save outcome")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = values(form);
    data.outcome_on = data.outcome_on || null;
    data.outcome_note = data.outcome_note || null;
    setBusy(form, true);
    const answer = await patch(`/api/oversight/complaints/${complaint.id}`, data);
    setBusy(form, false);
    if (!answer.ok) {
      showErrors(form, answer.error);
      return;
    }
    onSaved(answer.data);
  });
  return form;
}

function complaintCard(complaint) {
  const li = h("li", { dataset: { complaintId: String(complaint.id), outcome: complaint.outcome } });
  const draw = (c) => replace(li,
    h("h3", t("Case %(case_number)s", { case_number: c.case_number }), " · ", OUTCOME_WORDS[c.outcome] || c.outcome),
    h("p.meta", t("Received %(day)s from %(source)s", { day: c.received_on, source: SOURCE_WORDS[c.source] || c.source }),
      c.outcome_on ? ` · ${t("decided %(day)s", { day: c.outcome_on })}` : null),
    h("p", c.summary),
    c.outcome_note ? h("p.meta", c.outcome_note) : null,
    h("details", h("summary", t("Record the outcome")), outcomeForm(c, (saved) => {
      draw(saved);
      li.dataset.outcome = saved.outcome;
      li.querySelector("h3").focus?.();
    })));
  draw(complaint);
  return li;
}

function newComplaintForm(ctx, onRecorded) {
  const form = h("form.complaint-form", { novalidate: true, "aria-labelledby": "complaint-form-title" },
    formError(),
    field(t("Request number"), h("input", { id: "complaint-request", name: "request_id", type: "number", min: 1,
      inputMode: "numeric", required: true, value: ctx.query.get("request") || "" }),
    { hint: t("The number at the end of the request's address, e.g. 42 for #/oversight/requests/42.") }),
    field(t("Received on"), h("input", { id: "complaint-received", name: "received_on", type: "date", required: true,
      value: today(), max: today() })),
    field(t("From"), select("complaint-source", "source", SOURCE_WORDS, "resident")),
    field(t("Summary"), h("textarea", { id: "complaint-summary", name: "summary", rows: 4, maxlength: 2000,
      required: true }), { hint: t("What the complaint says. Name nobody who does not need naming.") }),
    h("button.primary", { type: "submit" }, t("Record complaint")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = values(form);
    data.request_id = Number(data.request_id) || null;
    setBusy(form, true);
    const answer = await post("/api/oversight/complaints", data);
    setBusy(form, false);
    if (!answer.ok) {
      showErrors(form, answer.error);
      return;
    }
    form.reset();
    form.elements.namedItem("received_on").value = today();
    onRecorded(answer.data);
  });
  return form;
}

export default {
  title: N_("Complaints"),
  async render(ctx) {
    const list = h("ul.cards.complaint-list", { "aria-label": t("Complaints, newest first") });
    const results = h("div", loading());
    const status = h("p.success", { role: "status", tabindex: "-1" });
    const answer = await get("/api/oversight/complaints");
    if (!ctx.current) {
      return h("section");
    }
    if (answer.ok) {
      list.append(...answer.data.map(complaintCard));
      replace(results, answer.data.length ? list : h("p.empty", t("No complaint recorded yet.")));
    } else {
      replace(results, errorCard(answer.error));
    }
    const form = newComplaintForm(ctx, (complaint) => {
      list.prepend(complaintCard(complaint));
      replace(results, list);
      status.textContent = t("Complaint recorded against case %(case_number)s.", { case_number: complaint.case_number });
      status.focus();
    });
    return h("section.oversight.complaints",
      h("h1", t("Complaints")),
      h("p", t("Complaints against the agency's footage requests and how each ended. Supervisors and oversight "
        + "record them; every change is in the audit log, and the annual report counts them by outcome.")),
      h("h2", { id: "complaint-form-title" }, t("Record a complaint")),
      form,
      status,
      h("h2", t("The complaint log")),
      results);
  },
};
