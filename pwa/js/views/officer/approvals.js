// The supervisor's approval queue: requests over the agency's limits, with the limits
// exceeded and the officer's justification. Approving sends the request to owners and
// records the override (counted publicly); rejecting closes it. Both need a reason.
//
// Four eyes: a supervisor's own request waits here for another supervisor, unless the
// agency's policy allows self-approval (the setting at the foot of this screen); then
// approving it marks it self-approved, and that is counted publicly too. Re-asks (owners
// who declined or did not answer an overlapping request in the last 30 days) wait here too.
//
// Below it: the agency's offense categories and prohibited purposes, which officers choose
// from and affirm on each request.

import { get, patch, post } from "../../api.js";
import { clearErrors, setBusy, showErrors } from "../../forms.js";
import { poll } from "../../timing.js";
import { errorCard, field, formError, formatWindow, h, loading, replace, time } from "../../ui.js";
import {
  agencyPolicy, exceededText, formatCoordinates, formatMetres, formatMinutes, legalBasisText,
} from "./common.js";
import { N_, t, tn, withElements } from "../../i18n.js";

const POLL_MS = 15000;

// The taxonomy as lines "key: Label", and back; a line without a colon is a label whose key
// is made from it ("Hit and run" → hit_and_run).
function categoriesText(categories) {
  return categories.map((c) => `${c.key}: ${c.label}`).join("\n");
}

function parseCategories(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const colon = line.indexOf(":");
    const label = (colon >= 0 ? line.slice(colon + 1) : line).trim();
    const key = colon >= 0 ? line.slice(0, colon).trim()
      : label.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
    return { key, label };
  });
}

// A supervisor edits the offense categories and the prohibited purposes (PATCH /api/agency/policy).
function purposeForm(policy) {
  if (!policy || !policy.offense_categories) {
    return null;
  }
  const categories = h("textarea", { id: "policy-categories", name: "offense_categories", rows: 8,
    value: categoriesText(policy.offense_categories) });
  const prohibited = h("textarea", { id: "policy-prohibited", name: "prohibited_purposes", rows: 8,
    value: policy.prohibited_purposes.join("\n") });
  const saved = h("p.hint", { role: "status", "aria-live": "polite" });
  const form = h("form.purpose-policy", { novalidate: true }, formError(),
    field(t("Offense categories"), categories, { hint: t("One per line, as key: label (for example "
      + "vehicle_theft: Vehicle theft). Keys are counted on the public report; a request keeps the label it was made "
      + "with.") }),
    field(t("Prohibited purposes"), prohibited, { hint: t("One per line. Officers see this list on every new "
      + "request and affirm that none of it applies.") }),
    h("div.actions", h("button.primary", { type: "submit" }, t("Save categories and purposes"))),
    saved);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    saved.textContent = "";
    setBusy(form, true);
    const answer = await patch("/api/agency/policy", {
      offense_categories: parseCategories(categories.value),
      prohibited_purposes: prohibited.value.split("\n").map((line) => line.trim()).filter(Boolean),
    });
    setBusy(form, false);
    if (!answer.ok) {
      showErrors(form, answer.error);
      return;
    }
    categories.value = categoriesText(answer.data.offense_categories);
    prohibited.value = answer.data.prohibited_purposes.join("\n");
    agencyPolicy({ fresh: true });
    saved.textContent = t("Saved. The change is in the audit log.");
  });
  return h("section.purpose-setting", { "aria-labelledby": "purpose-setting-heading" },
    h("h2", { id: "purpose-setting-heading" }, t("Offense categories and prohibited purposes")),
    form);
}

export default {
  title: N_("Approvals"),
  async render(ctx) {
    const [policy, staffAnswer] = await Promise.all([agencyPolicy(), get("/api/agency/staff")]);
    const names = new Map((staffAnswer.ok ? staffAnswer.data : [])
      .map((user) => [user.id, user.display_name || user.email || t("Staff member %(id)s", { id: user.id })]));
    const list = h("ul.cards.approval-list", { "aria-label": t("Requests waiting for approval") });
    const empty = h("p.empty", { hidden: true }, t("No request is waiting for approval."));
    const status = h("div.approval-status");
    const cards = new Map(); // request id → li
    const ownNotes = new Set(); // redraws of the notes on the supervisor's own requests
    let allowSelf = Boolean(policy && policy.allow_self_approval);
    let closed = false;

    function officerName(request) {
      if (request.officer_id === ctx.user.id) {
        return t("you");
      }
      return names.get(request.officer_id) || (request.officer_id ? t("officer %(officer_id)s", { officer_id: request.officer_id }) : t("a former officer"));
    }

    function card(request) {
      const reason = h("textarea", { id: `review-${request.id}-reason`, name: "reason", rows: 3, maxLength: 1000,
        required: true });
      const approve = h("button.primary", { type: "submit", value: "approve" }, t("Approve and send"));
      const reject = h("button.danger", { type: "submit", value: "reject" }, t("Reject"));
      const actions = h("div.actions", approve, reject);
      const form = h("form.review-form", { novalidate: true }, formError(),
        field(t("Your reason"), reason, { hint: t("Recorded with your decision and in the audit log.") }),
        actions);
      const mine = request.officer_id === ctx.user.id;
      const ownNote = mine ? h("p.own-request", { role: "note" }) : null;
      function drawOwnNote() {
        // Without the policy, no Approve button that could only fail: the request waits for someone else.
        replace(actions, allowSelf ? approve : null, reject);
        replace(ownNote, allowSelf
          ? withElements(t("This is your own request. Your agency allows self-approval: if you approve it, it is "
            + "marked %(self_approved)s, recorded in the audit log and counted on the public transparency report."),
          { self_approved: h("strong", t("self-approved")) })
          : withElements(t("This is your own request, so %(another)s. It waits here until one does. If you are your "
            + "agency’s only supervisor it keeps waiting, and expires %(lifetime)s after it was made. You can still "
            + "reject it, or withdraw it from the request page.", {
            lifetime: policy ? formatMinutes(policy.request_lifetime_hours * 60) : t("at the end of the request lifetime"),
          }), { another: h("strong", t("another supervisor must approve it")) }));
      }
      if (mine) {
        drawOwnNote();
        ownNotes.add(drawOwnNote);
      }
      const titleId = `approval-${request.id}-title`;
      const li = h("li", { dataset: { requestId: String(request.id) } },
        h("h2", { id: titleId }, t("Case %(case_number)s", { case_number: request.case_number }), h("span.meta-inline", ` · ${request.incident_type}`)),
        h("p.meta", withElements(t("Requested by %(officer)s, %(when)s"),
          { officer: officerName(request), when: time(request.created_at) })),
        h("ul.exceeded", exceededText(request, policy).map((text) => h("li", text))),
        h("dl.card.stacked",
          h("dt", t("Justification")), h("dd.justification", request.justification || t("(none given)")),
          h("dt", t("Summary")), h("dd", request.summary),
          h("dt", t("Legal basis")), h("dd.legal-basis", legalBasisText(request)),
          h("dt", t("Offense category")), h("dd", request.offense_category_label),
          h("dt", t("Time window")), h("dd", formatWindow(request.window_start, request.window_end)),
          h("dt", t("Area")), h("dd", t("%(radius)s around %(point)s", { radius: formatMetres(request.radius_m),
            point: formatCoordinates(request.latitude, request.longitude) }))),
        h("p", h("a", { href: `#/officer/requests/${request.id}` }, t("Open the request"),
          h("span.visually-hidden", t(" for case %(case_number)s", { case_number: request.case_number })))),
        ownNote,
        form);
      li.drawOwnNote = mine ? drawOwnNote : null;
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const action = event.submitter ? event.submitter.value : (mine && !allowSelf ? "reject" : "approve");
        clearErrors(form);
        if (!reason.value.trim()) {
          showErrors(form, { message: t("Please check the fields marked below."),
            fields: { reason: [t("Give the reason you %(action)s this request.", { action })] } });
          return;
        }
        setBusy(form, true);
        reject.disabled = true;
        const answer = await post(`/api/requests/${request.id}/${action}`, { reason: reason.value.trim() });
        setBusy(form, false);
        reject.disabled = false;
        if (closed) {
          return;
        }
        if (!answer.ok) {
          showErrors(form, answer.error);
          return;
        }
        const done = answer.data;
        const text = action === "approve"
          ? tn("Case %(case_number)s approved and sent: %(count)s camera asked.",
            "Case %(case_number)s approved and sent: %(count)s cameras asked.", done.asks_total,
            { case_number: done.case_number })
          : t("Case %(case_number)s rejected.", { case_number: done.case_number });
        removeCard(request.id);
        replace(status, h("p.success", { tabindex: "-1" }, text, " ",
          h("a", { href: `#/officer/requests/${done.id}` }, t("Open it"))));
        status.querySelector("p").focus();
        ctx.announce(text);
      });
      return li;
    }

    function removeCard(id) {
      const li = cards.get(id);
      if (li?.drawOwnNote) {
        ownNotes.delete(li.drawOwnNote);
      }
      li?.remove();
      cards.delete(id);
      empty.hidden = cards.size > 0;
    }

    async function load({ first = false, background = false } = {}) {
      const answer = await get("/api/requests?status=pending_approval", { background });
      if (closed || !ctx.current) {
        return;
      }
      if (!answer.ok) {
        if (first) {
          replace(status, errorCard(answer.error, () => load({ first: true })));
        }
        return;
      }
      const ids = new Set(answer.data.map((r) => r.id));
      for (const id of [...cards.keys()]) {
        // Decided elsewhere (another supervisor, or cancelled): the card goes, unless it is being typed in.
        if (!ids.has(id) && !cards.get(id).contains(document.activeElement)) {
          removeCard(id);
        }
      }
      let added = 0;
      // Oldest first: they have waited longest.
      for (const request of [...answer.data].sort((a, b) => a.id - b.id)) {
        if (!cards.has(request.id)) {
          const li = card(request);
          cards.set(request.id, li);
          list.append(li);
          added += 1;
        }
      }
      empty.hidden = cards.size > 0;
      if (added && !first) {
        ctx.announce(tn("%(count)s new request waiting for approval.", "%(count)s new requests waiting for approval.",
          added));
      }
    }

    const intro = h("p.lead", policy
      ? t("These requests go beyond your agency's limits (%(radius)s radius, %(window)s of footage). Approving sends "
        + "them to owners and is counted publicly as an override.",
      { radius: formatMetres(policy.max_radius_m), window: formatMinutes(policy.max_window_minutes) })
      : t("These requests go beyond your agency's limits. Approving sends them to owners and is counted publicly "
        + "as an override."));

    // --- the four-eyes policy setting --------------------------------------------------------
    const selfBox = h("input", { id: "allow-self-approval", name: "allow_self_approval", type: "checkbox",
      checked: allowSelf, disabled: !policy });
    const selfStatus = h("p.hint", { role: "status", "aria-live": "polite" });
    selfBox.addEventListener("change", async () => {
      selfBox.disabled = true;
      const answer = await patch("/api/agency/policy", { allow_self_approval: selfBox.checked });
      selfBox.disabled = false;
      if (closed) {
        return;
      }
      if (!answer.ok) {
        selfBox.checked = allowSelf;
        selfStatus.textContent = answer.error.message;
        return;
      }
      allowSelf = answer.data.allow_self_approval;
      agencyPolicy({ fresh: true });
      ownNotes.forEach((draw) => draw());
      selfStatus.textContent = allowSelf
        ? t("Self-approval allowed. The change is in the audit log.")
        : t("Self-approval not allowed: another supervisor approves. The change is in the audit log.");
    });
    const selfSetting = h("section.self-approval-setting", { "aria-labelledby": "self-approval-heading" },
      h("h2", { id: "self-approval-heading" }, t("Approving your own requests")),
      h("p", t("By default a request over the limits needs a second pair of eyes: a different supervisor than the one " +
        "who made it must approve it. A supervisor’s own request waits in this queue for another supervisor; in an " +
        "agency with a single supervisor it waits until it expires.")),
      h("label.check", { for: "allow-self-approval" }, selfBox,
        t("Allow a supervisor to approve their own over-limit request")),
      h("p.hint", t("When allowed, each such approval is marked self-approved on the request, recorded in the audit " +
        "log and counted on the agency’s public transparency report. Changing this setting is recorded in the audit log.")),
      selfStatus);
    const purposeSetting = purposeForm(policy);
    replace(status, loading());
    await load({ first: true });
    status.querySelector(".loading")?.remove();
    empty.hidden = cards.size > 0;
    const stop = poll((options) => load(options), POLL_MS);
    return {
      node: h("section.officer",
        h("h1", t("Approval queue")),
        intro,
        status,
        empty,
        list,
        selfSetting,
        purposeSetting),
      cleanup() {
        closed = true;
        stop();
      },
    };
  },
};
