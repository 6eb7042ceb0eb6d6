// "Forgot password?": ask for a reset link (e-mail) or code (SMS), then, for a phone, type the
// code and a new password here.
//
// The server answers the same whether or not the login has an account, so this screen says
// the same too: "if an account uses this address, we sent ...". A link opens reset.js.

import { post } from "../../api.js";
import { setBusy, showErrors, values } from "../../forms.js";
import { field, formError, h, replace } from "../../ui.js";
import { confirmNewPassword, newPasswordFields } from "./common.js";
import { N_, t } from "../../i18n.js";

function looksLikePhone(login) {
  return !login.includes("@");
}

function codeForm(ctx, login) {
  const form = h("form", { novalidate: true },
    formError(),
    field(t("Code from the text message"), h("input", {
      id: "reset-code", name: "code", type: "text", inputmode: "numeric", autocomplete: "one-time-code",
      required: true, maxlength: 7,
    }), { hint: t("6 digits. It works for 30 minutes.") }),
    ...newPasswordFields("reset"),
    h("button.primary", { type: "submit" }, t("Set new password")));
  confirmNewPassword(ctx, form, (data) => ({ login, code: data.code }));
  return form;
}

export default {
  title: N_("Forgot password"),
  async render(ctx) {
    const section = h("section");
    const form = h("form", { novalidate: true },
      formError(),
      field(t("E-mail or mobile number"), h("input", {
        id: "forgot-login", name: "login", type: "text", autocomplete: "username", required: true,
        autocapitalize: "off", spellcheck: false,
      }), { hint: t("The one you sign in with. We send a link by e-mail, or a 6-digit code by text message.") }),
      h("button.primary", { type: "submit" }, t("Send link or code")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = values(form);
      if (!data.login) {
        showErrors(form, { message: t("Please check the fields marked below."),
          fields: { login: [t("Type the e-mail address or mobile number you sign in with.")] } });
        return;
      }
      setBusy(form, true);
      const answer = await post("/api/auth/password-reset", data);
      setBusy(form, false);
      if (!answer.ok) {
        showErrors(form, answer.error);
        return;
      }
      const phone = looksLikePhone(data.login);
      const heading = h("h2", { tabindex: "-1" }, phone ? t("Check your text messages") : t("Check your e-mail"));
      const sent = h("div.sent",
        heading,
        h("p.success", answer.data.message),
        phone ? h("p", t("Type the code and your new password below."))
          : h("p", t("Open the link in the e-mail to choose a new password. Nothing arrived? Check the spam "
            + "folder, or ask again in a few minutes.")),
        phone ? codeForm(ctx, data.login) : null,
        h("p", h("a", { href: "#/forgot", onclick: (e) => { e.preventDefault(); ctx.navigate("/forgot"); } },
          t("Use another e-mail or number"))));
      replace(section, h("h1", t("Forgot password")), sent);
      heading.focus();
      ctx.announce(answer.data.message);
    });
    replace(section,
      h("h1", t("Forgot password")),
      h("p", t("We can send a link or code to the e-mail address or mobile number of your account, if you have "
        + "verified it.")),
      form,
      h("p", t("Remembered it? "), h("a", { href: "#/signin" }, t("Sign in")), "."));
    return section;
  },
};
