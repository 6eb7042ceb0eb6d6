// Joining an agency's staff from an invitation e-mail's link (#/join/<token>): choose a
// password, add Porchlight to an authenticator app, type its code, keep the recovery
// codes, and arrive signed in. The account exists only once the code is confirmed, so
// there is never a password-only session of a staff account; the link works once.

import { get, post } from "../../api.js";
import { clearErrors, setBusy, showErrors, values } from "../../forms.js";
import { errorCard, field, formError, formatDateTime, h, replace, words } from "../../ui.js";
import { authenticatorCodeForm, authenticatorQr } from "./common.js";
import { N_, t } from "../../i18n.js";

const APPS = t("any app for time-based (TOTP) codes works, e.g. FreeOTP, Aegis, Google Authenticator, "
  + "Microsoft Authenticator, or the one in your password manager");

function article(role) {
  return { officer: t("an officer"), supervisor: t("a supervisor"), manager: t("a district manager"),
    oversight: t("a member of its civilian oversight (read-only)") }[role]
    || `a ${words(role)}`;
}

// The whole sentence is translated; the e-mail address, shown in bold, is put in where its
// placeholder stands (t() leaves a placeholder it has no value for as it is).
function invitedSentence(info) {
  const sentence = t("You are invited to join %(agency_name)s on Porchlight as %(role)s, signing in as %(email)s.",
    { agency_name: info.agency_name, role: article(info.role) });
  const [before, after = ""] = sentence.split("%(email)s");
  return [before, h("strong.join-email", info.email), after];
}

export default {
  title: N_("Join your agency"),
  async render(ctx) {
    const token = ctx.params.token;
    const path = `/api/invitations/${encodeURIComponent(token)}`;
    const invitation = await get(path);
    if (!invitation.ok) {
      const gone = invitation.status === 410;
      return h("section.join",
        h("h1", gone ? t("This invitation link no longer works") : t("Join your agency")),
        gone ? h("p.form-error", { role: "alert" }, invitation.error.message)
          : errorCard(invitation.error, () => ctx.navigate(`/join/${token}`)));
    }
    const info = invitation.data;
    const heading = h("h1", { tabindex: "-1" }, t("Join %(agency_name)s", { agency_name: info.agency_name }));
    const box = h("div.join-steps");
    let password = "";
    const urls = [];

    // A new step replaces the last and takes focus, as a change of screen would.
    function show(...nodes) {
      replace(box, ...nodes);
      const first = box.querySelector("h2");
      first.setAttribute("tabindex", "-1");
      first.focus();
    }

    function passwordStep() {
      const input = h("input", { id: "join-password", name: "password", type: "password",
        autocomplete: "new-password", required: true });
      const repeat = h("input", { id: "join-password-again", name: "password_again", type: "password",
        autocomplete: "new-password", required: true });
      const login = h("input", { type: "email", name: "email", autocomplete: "username", value: info.email,
        hidden: true, readonly: true });
      const form = h("form.join-password", { novalidate: true },
        formError(),
        login,
        field(t("Choose a password"), input, { hint: t("At least 10 characters; not your e-mail address.") }),
        field(t("The same password again"), repeat),
        h("button.primary", { type: "submit" }, t("Next")));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(form);
        const data = values(form);
        if (!data.password || data.password !== data.password_again) {
          showErrors(form, { message: t("Please check the fields marked below."), fields: data.password
            ? { password_again: [t("The two passwords differ.")] } : { password: [t("Choose a password.")] } });
          return;
        }
        setBusy(form, true);
        const answer = await post(`${path}/second-factor`, { password: data.password });
        setBusy(form, false);
        if (!answer.ok) {
          showErrors(form, answer.error);
          return;
        }
        password = data.password;
        scanStep(answer.data);
      });
      return [
        h("p.join-invited", ...invitedSentence(info)),
        h("p.hint", t("This link works once, until %(when)s.", { when: formatDateTime(info.expires_at) })),
        h("ol.steps",
          h("li", t("Choose your password. Nobody else, your supervisor included, ever knows it.")),
          h("li", t("Add Porchlight to an authenticator app on your phone (%(APPS)s) and type the code it shows.", { APPS })),
          h("li", t("Keep the recovery codes you are given."))),
        h("h2", t("1. Choose your password")),
        form,
      ];
    }

    function scanStep(setup) {
      const form = authenticatorCodeForm("join", t("Create my account"),
        (code) => post(`${path}/accept`, { password, code }),
        (data) => {
          password = "";
          const { recovery_codes: codes, ...user } = data;
          ctx.setUser(user);
          ctx.announce(t("Your account is ready and you are signed in."));
          codesStep(user, codes);
        });
      show(
        h("h2", t("2. Add Porchlight to your authenticator app")),
        ...authenticatorQr(setup),
        h("h2", t("3. Type the code the app shows")),
        form);
    }

    function codesStep(user, list) {
      const text = [t("Porchlight recovery codes"), t("Account: %(email)s", { email: user.email }), t("Made: %(when)s", { when: formatDateTime(new Date().toISOString()) }),
        t("Each code signs you in once in place of your authenticator app's code."), "", ...list, ""].join("\n");
      const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
      urls.push(url);
      const done = h("button.primary", { type: "button" }, t("I have saved them"));
      done.addEventListener("click", () => ctx.navigate(ctx.homeFor(user), { replace: true }));
      show(
        h("p.success", { role: "status" }, t("Welcome to %(agency_name)s: your account is ready and you are ", { agency_name: info.agency_name })
          + t("signed in.")),
        h("h2", t("4. Save your recovery codes")),
        h("p", t("Lost or changed your phone? Each of these codes signs you in once in place of the app’s code. "
          + "Keep them away from your phone: in a password manager, or printed and locked away. "),
        h("strong", t("They are shown only now."))),
        h("ol.recovery-codes", list.map((code) => h("li", h("code", code)))),
        h("div.actions",
          h("a.button", { href: url, download: "porchlight-recovery-codes.txt" }, t("Download as a text file"))),
        h("div.actions", done));
    }

    replace(box, ...passwordStep());
    return {
      node: h("section.join", heading, box),
      cleanup() {
        for (const url of urls) {
          URL.revokeObjectURL(url);
        }
      },
    };
  },
};
