// The supervisor's staff list: the agency's officers, supervisors, district managers and oversight,
// whether each signs in with two-step sign-in, and a reset for one who lost their phone
// (their sessions end and they set up their authenticator again at the next sign-in).
// New staff join by invitation: the Invite form e-mails a single-use link with which the
// person chooses their own password and sets up two-step sign-in (no supervisor ever
// knows it); the pending invitations can be sent again (a new link) or revoked.

import { del, get, post } from "../../api.js";
import { clearErrors, setBusy, showErrors, values } from "../../forms.js";
import { confirmInPlace, errorCard, field, formatDateTime, formError, h, replace, words } from "../../ui.js";
import { N_, t, tn } from "../../i18n.js";

function name(user) {
  return user.display_name || user.email || user.phone || t("Staff member %(id)s", { id: user.id });
}

function twoStepText(user) {
  if (user.second_factor_enabled) {
    return t("Two-step sign-in on");
  }
  return user.role === "manager" ? t("Two-step sign-in off") : t("Sets up two-step sign-in at next sign-in");
}

// "Reset two-step sign-in" asks once more, in place, before anything changes.
function resetControl(user, onReset) {
  return confirmInPlace({
    className: "reset-two-step",
    label: t("Reset two-step sign-in"),
    question: t("Reset the two-step sign-in of %(name)s? Do this when they lost their phone, after checking it is "
      + "really them asking. Their authenticator app and recovery codes stop working, and every session of theirs "
      + "ends.", { name: name(user) }),
    yes: t("Yes, reset %(name)s", { name: name(user) }),
    no: t("Keep it"),
    act: () => post(`/api/agency/staff/${user.id}/second-factor/reset`),
    onDone: (answer) => onReset(answer.data, t("Two-step sign-in of %(name)s was reset: they are signed out "
      + "everywhere and set up an authenticator app again at their next sign-in.", { name: name(user) })),
  });
}

const ROLE_NAMES = { officer: t("Officer"), supervisor: t("Supervisor"), manager: t("District manager"),
  oversight: t("Oversight (read-only)") };

function invitationState(invitation) {
  return invitation.state === "expired"
    ? t("Link expired %(when)s: send it again for a new one.", { when: formatDateTime(invitation.expires_at) })
    : t("Invited %(sent)s; the link works until %(until)s.",
      { sent: formatDateTime(invitation.sent_at), until: formatDateTime(invitation.expires_at) });
}

// The pending invitations: each can be sent again (a new link; the old one stops working)
// or revoked after a confirmation.
function invitationList(ctx, initial) {
  const list = h("ul.cards.invitation-list", { "aria-labelledby": "invitations-title" });
  const empty = h("p.hint.no-invitations", t("No invitations waiting."));

  function refreshEmpty() {
    empty.hidden = list.children.length > 0;
  }

  function card(invitation, notice) {
    const who = invitation.display_name || invitation.email;
    const error = h("p.form-error", { role: "alert", tabindex: "-1", hidden: true });
    const resend = h("button", { type: "button" }, t("Send again"), h("span.visually-hidden", t(" to %(who)s", { who })));
    const li = h("li.card", { dataset: { invitationId: String(invitation.id) } },
      h("h3", who),
      h("p.meta", ROLE_NAMES[invitation.role] || words(invitation.role),
        invitation.display_name ? ` · ${invitation.email}` : null),
      h("p.invitation-state", { dataset: { state: invitation.state } }, invitationState(invitation)),
      notice ? h("p.success", { role: "status", tabindex: "-1" }, notice) : null,
      error,
      h("div.actions", resend,
        confirmInPlace({
          className: "revoke-invitation",
          label: t("Revoke"),
          hiddenLabel: t(" the invitation of %(who)s", { who }),
          question: t("Revoke the invitation of %(who)s? The link in their e-mail stops working.", { who }),
          yes: t("Yes, revoke it"),
          no: t("Keep it"),
          act: () => del(`/api/staff/invitations/${invitation.id}`),
          onDone: () => {
            li.remove();
            refreshEmpty();
            ctx.announce(t("The invitation of %(who)s was revoked.", { who }));
            document.getElementById("invitations-title").focus();
          },
        })));
    resend.addEventListener("click", async () => {
      resend.disabled = true;
      const answer = await post(`/api/staff/invitations/${invitation.id}/resend`);
      resend.disabled = false;
      if (!answer.ok) {
        error.hidden = false;
        error.textContent = answer.error.message;
        error.focus();
        return;
      }
      const done = t("Sent again to %(email)s: the earlier link no longer works.", { email: answer.data.email });
      const replacement = card(answer.data, done);
      li.replaceWith(replacement);
      ctx.announce(done);
      replacement.querySelector(".success").focus();
    });
    return li;
  }

  replace(list, initial.map((invitation) => card(invitation)));
  refreshEmpty();
  return {
    node: h("section.invitations", { "aria-labelledby": "invitations-title" },
      h("h2", { id: "invitations-title", tabindex: "-1" }, t("Invitations waiting")), empty, list),
    add(invitation, notice) {
      const node = card(invitation, notice);
      list.append(node);
      refreshEmpty();
      return node;
    },
  };
}

// Invite by e-mail: the address, the role, an optional name, a district for a manager.
function inviteForm(ctx, districts, onInvited) {
  const districtSelect = h("select", { id: "invite-district", name: "district_id" },
    h("option", { value: "" }, t("Choose a district")),
    districts.map((d) => h("option", { value: String(d.id) }, d.name)));
  const districtField = field(t("District"), districtSelect, { hint: t("District managers belong to one district.") });
  districtField.hidden = true;
  const role = h("select", { id: "invite-role", name: "role" },
    Object.entries(ROLE_NAMES).map(([value, text]) => h("option", { value }, text)));
  role.addEventListener("change", () => {
    districtField.hidden = role.value !== "manager";
  });
  const form = h("form.invite-form", { novalidate: true },
    formError(),
    field(t("E-mail address"), h("input", { id: "invite-email", name: "email", type: "email", autocomplete: "off",
      autocapitalize: "off", spellcheck: false, required: true }),
    { hint: t("The invitation link goes here; it works once, for 72 hours.") }),
    field(t("Role"), role),
    districtField,
    field(t("Name"), h("input", { id: "invite-name", name: "display_name", type: "text", autocomplete: "off" }),
      { optional: true }),
    h("button.primary", { type: "submit" }, t("Send invitation")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = values(form);
    if (data.role !== "manager") {
      delete data.district_id;
    } else if (data.district_id) {
      data.district_id = Number(data.district_id);
    }
    if (!data.email) {
      showErrors(form, { message: t("Please check the fields marked below."),
        fields: { email: [t("Enter the e-mail address to invite.")] } });
      return;
    }
    setBusy(form, true);
    const answer = await post("/api/staff/invitations", data);
    setBusy(form, false);
    if (!answer.ok) {
      showErrors(form, answer.error);
      return;
    }
    form.reset();
    districtField.hidden = true;
    onInvited(answer.data);
  });
  return h("section.invite", { "aria-labelledby": "invite-title" },
    h("h2", { id: "invite-title" }, t("Invite someone")),
    h("p", t("They get an e-mail with a link to choose their own password and set up two-step sign-in. "
      + "Nobody else, you included, ever knows their password.")),
    form);
}

export default {
  title: N_("Staff"),
  async render(ctx) {
    const [answer, pending, districtAnswer] = await Promise.all([get("/api/agency/staff"),
      get("/api/staff/invitations"), get("/api/agency/districts")]);
    if (!answer.ok || !pending.ok) {
      return h("section", h("h1", t("Staff")),
        errorCard((answer.ok ? pending : answer).error, () => ctx.navigate("/officer/staff")));
    }
    const list = h("ul.cards.staff-list", { "aria-labelledby": "staff-title" });

    function card(user, notice) {
      const you = user.id === ctx.user.id;
      const titleId = `staff-${user.id}-name`;
      const li = h("li.card", { dataset: { userId: String(user.id) } },
        h("h2", { id: titleId }, name(user), you ? t(" (you)") : null),
        h("p.meta", words(user.role), user.email && user.display_name ? ` · ${user.email}` : null,
          user.active ? null : t(" · deactivated")),
        h("p.two-step-state", { dataset: { enabled: String(Boolean(user.second_factor_enabled)) } },
          twoStepText(user)),
        notice ? h("p.success", { role: "status", tabindex: "-1" }, notice) : null,
        user.second_factor_enabled && !you ? resetControl(user, (fresh, done) => {
          const replacement = card(fresh, done);
          li.replaceWith(replacement);
          ctx.announce(done);
          replacement.querySelector(".success").focus();
        }) : null);
      return li;
    }

    const staff = answer.data;
    replace(list, staff.map((user) => card(user)));
    const invitations = invitationList(ctx, pending.data);
    const invite = inviteForm(ctx, districtAnswer.ok ? districtAnswer.data : [], (invitation) => {
      const done = t("Invitation sent to %(email)s.", { email: invitation.email });
      const node = invitations.add(invitation, done);
      ctx.announce(done);
      node.querySelector(".success").focus();
    });
    const withoutIt = staff.filter((u) => u.active && u.role !== "manager" && !u.second_factor_enabled).length;
    return h("section.staff",
      h("h1", { id: "staff-title" }, t("Staff")),
      h("p", t("Officers and supervisors sign in with a password and a code from an authenticator app. "
        + "When one loses their phone, reset their two-step sign-in here; another supervisor resets yours.")),
      withoutIt ? h("p.hint", tn("%(count)s account has not set it up yet: they do at their next sign-in.",
        "%(count)s accounts have not set it up yet: they do at their next sign-in.", withoutIt)) : null,
      list,
      invite,
      invitations.node);
  },
};
