// Sign in with e-mail or phone and password; then back to where the user was going.
//
// Accounts with two-step sign-in answer `second_factor_required` to the password alone:
// the form then asks for the authenticator app's code (or a recovery code) and sends
// all three again.
//
// One person may hold a resident account and a police staff account on the same login.
// When the password opens both, the API answers `account_choice_required`: the form then
// asks which one ("Sign in as") and sends the choice as `account`.

import { post } from "../../api.js";
import { clearErrors, setBusy, showErrors, values } from "../../forms.js";
import { field, formError, h, languageSwitch } from "../../ui.js";
import { safeNext } from "./common.js";
import { N_, t } from "../../i18n.js";

function codeStep() {
  const input = h("input", {
    id: "signin-code", name: "code", type: "text", autocomplete: "one-time-code", required: true,
    autocapitalize: "off", spellcheck: false,
  });
  // Not inputmode=numeric: recovery codes have letters.
  const box = h("div.second-step", { hidden: true },
    h("p.second-step-note"),
    field(t("Code from your authenticator app or a recovery code"), input, {
      hint: t("The 6 digits your app shows now, or one of the recovery codes you saved (like abcde-23456)."),
    }));
  return { box, input, note: box.querySelector(".second-step-note") };
}

function accountStep() {
  const choice = (value, text) => h("label.check", { for: `signin-account-${value}` },
    h("input", { id: `signin-account-${value}`, type: "radio", name: "account-choice", value }), text);
  const box = h("fieldset.account-choice", { hidden: true },
    h("legend", t("Sign in as")),
    h("p.hint", t("This login and password open two accounts. Choose which one to use now.")),
    choice("owner", t("Resident (camera owner)")),
    choice("staff", t("Police staff")));
  const chosen = () => box.querySelector("input:checked")?.value;
  return { box, chosen, first: box.querySelector("input") };
}

export default {
  title: N_("Sign in"),
  async render(ctx) {
    if (ctx.user) {
      ctx.navigate(safeNext(ctx.query, ctx.homeFor(ctx.user)), { replace: true });
      return h("p.loading", t("Already signed in…"));
    }
    const second = codeStep();
    const account = accountStep();
    const submit = h("button.primary", { type: "submit" }, t("Sign in"));
    const form = h("form", { novalidate: true },
      formError(),
      field(t("E-mail or mobile number"), h("input", {
        id: "signin-login", name: "login", type: "text", autocomplete: "username", required: true,
        autocapitalize: "off", spellcheck: false,
      })),
      field(t("Password"), h("input", {
        id: "signin-password", name: "password", type: "password", autocomplete: "current-password", required: true,
      })),
      account.box,
      second.box,
      submit);
    // Another login or password: the code asked for belonged to the account typed before.
    for (const name of ["login", "password"]) {
      form.elements.namedItem(name).addEventListener("input", () => {
        account.box.hidden = true;
        if (!second.box.hidden) {
          second.box.hidden = true;
          second.input.value = "";
          submit.textContent = t("Sign in");
        }
      });
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = values(form);
      delete data["account-choice"];
      if (!account.box.hidden) {
        if (!account.chosen()) {
          showErrors(form, { message: t("Choose which account to sign in to: resident or police staff.") });
          account.first.focus();
          return;
        }
        data.account = account.chosen();
      }
      if (second.box.hidden) {
        delete data.code;
      } else if (!data.code) {
        showErrors(form, { message: t("Please check the fields marked below."),
          fields: { code: [t("Enter the code your authenticator app shows, or a recovery code.")] } });
        return;
      }
      setBusy(form, true);
      const answer = await post("/api/auth/signin", data);
      setBusy(form, false);
      if (!answer.ok) {
        if (answer.error.code === "account_choice_required") {
          clearErrors(form);
          account.box.hidden = false;
          account.first.focus();
          ctx.announce(t("This login and password open a resident account and a police staff account. "
            + "Choose one to sign in."));
          return;
        }
        if (answer.error.code === "second_factor_required") {
          clearErrors(form);
          second.box.hidden = false;
          second.note.textContent = t("This account uses two-step sign-in. Open your authenticator app and "
            + "type the code it shows for Porchlight.");
          submit.textContent = t("Continue");
          second.input.focus();
          ctx.announce(second.note.textContent);
          return;
        }
        showErrors(form, answer.error);
        if (answer.error.code === "invalid_second_factor") {
          second.input.select();
        }
        return;
      }
      ctx.setUser(answer.data);
      ctx.announce(t("Signed in."));
      // An officer or supervisor without an authenticator yet is taken to set it up first (app.js).
      ctx.navigate(safeNext(ctx.query, ctx.homeFor(answer.data)), { replace: true });
    });
    const notice = ctx.session.notice;
    ctx.session.notice = "";
    return h("section",
      languageSwitch(),
      h("h1", t("Sign in")),
      notice ? h("p.alert", { role: "status" }, notice) : null,
      form,
      h("p", h("a", { href: "#/forgot" }, t("Forgot password?"))),
      h("p", t("New here? "), h("a", { href: "#/signup" }, t("Create an account")), " or ",
        h("a", { href: "#/scan" }, t("scan an enrollment QR code")), "."));
  },
};
