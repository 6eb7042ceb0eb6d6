// Owner sign-up: e-mail and/or mobile number, password, optional name and enrollment code.
//
// The account is made and signed in at once, with its addresses unverified: the server
// e-mails a link and texts a code. The next step says so and takes the code; requests
// reach an address only once it is verified (the same answer comes whether or not an
// address already had an account, so nothing here can tell).

import { post } from "../../api.js";
import { clearErrors, setBusy, showErrors, values } from "../../forms.js";
import { field, formError, h, languageSwitch, replace } from "../../ui.js";
import { serverLanguages } from "../../config.js";
import { language, N_, t } from "../../i18n.js";

const WELCOME = "/cameras/new?welcome=1";

function confirmStep(ctx, user) {
  const box = h("section.confirm-addresses", { "aria-labelledby": "confirm-title" });
  const next = h("button.primary", { type: "button", onclick: () => ctx.navigate(WELCOME, { replace: true }) },
    t("Continue"));
  let codeForm = null;
  if (user.phone) {
    codeForm = h("form.code-form", { novalidate: true },
      formError(),
      field(t("Code from the text message"), h("input", { id: "signup-verify-code", name: "code", type: "text",
        inputMode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxLength: 6 }),
      { hint: t("We texted a 6-digit code to %(phone)s. It is valid for 10 minutes.", { phone: user.phone }) }),
      h("button", { type: "submit" }, t("Verify number")));
    codeForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(codeForm);
      setBusy(codeForm, true);
      const answer = await post("/api/auth/phone/verify", { code: values(codeForm).code || "" });
      setBusy(codeForm, false);
      if (!answer.ok) {
        showErrors(codeForm, answer.error);
        return;
      }
      ctx.setUser({ ...ctx.user, ...answer.data });
      replace(codeForm, h("p.alert", { role: "status" }, t("Your mobile number "), h("strong", answer.data.phone),
        t(" is verified.")));
      ctx.announce(t("Mobile number verified."));
      next.focus();
    });
  }
  replace(box,
    h("h2", { id: "confirm-title", tabindex: "-1" }, t("Confirm your e-mail and number")),
    h("p", t("Your account is ready. Requests from police agencies reach an address only once you confirm it's yours.")),
    user.email ? h("p", t("We sent a link to "), h("strong", user.email), t(". Open it and press Confirm. "
      + "You can ask for another in Settings.")) : null,
    codeForm,
    h("p", t("You can also do this later in Settings.")),
    next);
  return box;
}

export default {
  title: N_("Sign up"),
  async render(ctx) {
    if (ctx.user) {
      ctx.navigate(ctx.homeFor(ctx.user), { replace: true });
      return h("p.loading", t("Already signed in…"));
    }
    const code = ctx.query.get("code") || "";
    const form = h("form", { novalidate: true },
      formError(),
      field(t("Your name"), h("input", { id: "signup-name", name: "display_name", type: "text", autocomplete: "name" }),
        { optional: true }),
      field(t("E-mail"), h("input", { id: "signup-email", name: "email", type: "email", autocomplete: "email",
        autocapitalize: "off", spellcheck: false }),
      { hint: t("Give an e-mail address, a mobile number, or both.") }),
      field(t("Mobile number"), h("input", { id: "signup-phone", name: "phone", type: "tel", autocomplete: "tel",
        inputmode: "tel" }), { hint: t("For text messages when an officer asks for footage.") }),
      field(t("Password"), h("input", { id: "signup-password", name: "password", type: "password",
        autocomplete: "new-password", required: true }), { hint: t("At least 10 characters.") }),
      field(t("Enrollment code"), h("input", { id: "signup-code", name: "enrollment_code", type: "text",
        class: "code", autocomplete: "off", autocapitalize: "characters", spellcheck: false, value: code,
        placeholder: "ABCD-EFGH" }), { optional: true, hint: t("From your neighbourhood’s QR sheet.") }),
      h("button.primary", { type: "submit" }, t("Create account")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      setBusy(form, true);
      const body = values(form);
      if (await serverLanguages()) {
        body.language = language(); // the account keeps the language it signed up in
      }
      const answer = await post("/api/auth/signup", body);
      setBusy(form, false);
      if (!answer.ok) {
        showErrors(form, answer.error);
        return;
      }
      ctx.setUser(answer.data);
      const step = confirmStep(ctx, answer.data);
      replace(page, h("h1", t("Create your owner account")), step);
      step.querySelector("h2").focus();
      ctx.announce(t("Account created. You are signed in. Confirm your e-mail address and number."));
    });
    const page = h("section",
      languageSwitch(),
      h("h1", t("Create your owner account")),
      h("p", t("Camera owners join voluntarily and decide about every request.")),
      form,
      h("p", t("Already have an account? "), h("a", { href: "#/signin" }, t("Sign in")), "."));
    return page;
  },
};
