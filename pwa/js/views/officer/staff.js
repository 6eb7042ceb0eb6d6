// The supervisor's staff list: the agency's officers, supervisors and district managers,
// whether each signs in with two-step sign-in, and a reset for one who lost their phone
// (their sessions end and they set up their authenticator again at the next sign-in).

import { get, post } from "../../api.js";
import { confirmInPlace, errorCard, h, replace, words } from "../../ui.js";

function name(user) {
  return user.display_name || user.email || user.phone || `Staff member ${user.id}`;
}

function twoStepText(user) {
  if (user.second_factor_enabled) {
    return "Two-step sign-in on";
  }
  return user.role === "manager" ? "Two-step sign-in off" : "Sets up two-step sign-in at next sign-in";
}

// "Reset two-step sign-in" asks once more, in place, before anything changes.
function resetControl(user, onReset) {
  return confirmInPlace({
    className: "reset-two-step",
    label: "Reset two-step sign-in",
    question: `Reset the two-step sign-in of ${name(user)}? Do this when they lost their phone, after checking it `
      + "is really them asking. Their authenticator app and recovery codes stop working, and every session of "
      + "theirs ends.",
    yes: `Yes, reset ${name(user)}`,
    no: "Keep it",
    act: () => post(`/api/agency/staff/${user.id}/second-factor/reset`),
    onDone: (answer) => onReset(answer.data, `Two-step sign-in of ${name(user)} was reset: they are signed out `
      + "everywhere and set up an authenticator app again at their next sign-in."),
  });
}

export default {
  title: "Staff",
  async render(ctx) {
    const answer = await get("/api/agency/staff");
    if (!answer.ok) {
      return h("section", h("h1", "Staff"), errorCard(answer.error, () => ctx.navigate("/officer/staff")));
    }
    const list = h("ul.cards.staff-list", { "aria-labelledby": "staff-title" });

    function card(user, notice) {
      const you = user.id === ctx.user.id;
      const titleId = `staff-${user.id}-name`;
      const li = h("li.card", { dataset: { userId: String(user.id) } },
        h("h2", { id: titleId }, name(user), you ? " (you)" : null),
        h("p.meta", words(user.role), user.email && user.display_name ? ` · ${user.email}` : null,
          user.active ? null : " · deactivated"),
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
    const withoutIt = staff.filter((u) => u.active && u.role !== "manager" && !u.second_factor_enabled).length;
    return h("section.staff",
      h("h1", { id: "staff-title" }, "Staff"),
      h("p", "Officers and supervisors sign in with a password and a code from an authenticator app. "
        + "When one loses their phone, reset their two-step sign-in here; another supervisor resets yours."),
      withoutIt ? h("p.hint", `${withoutIt === 1 ? "1 account has" : `${withoutIt} accounts have`} not set it up `
        + "yet: they do at their next sign-in.") : null,
      list);
  },
};
