// The page an e-mail's verification link opens: it proves the address only when the person
// presses Confirm (a POST). Mail scanners open links on their own; opening this page changes
// nothing.

import { post } from "../../api.js";
import { setBusy, showErrors } from "../../forms.js";
import { formError, h, replace } from "../../ui.js";
import { N_, t } from "../../i18n.js";

export default {
  title: N_("Confirm your e-mail address"),
  async render(ctx) {
    const box = h("div");
    const form = h("form", { novalidate: true },
      formError(),
      h("p", t("Press Confirm to show that this e-mail address is yours. Requests from police agencies reach you "
        + "by e-mail only once it is confirmed.")),
      h("button.primary", { type: "submit" }, t("Confirm")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      setBusy(form, true);
      const answer = await post("/api/auth/verify-email", { token: ctx.params.token });
      setBusy(form, false);
      if (!answer.ok) {
        showErrors(form, answer.error);
        return;
      }
      if (ctx.user) {
        await ctx.refreshUser();
      }
      const done = h("p.alert", { role: "status", tabindex: "-1" },
        t("Your e-mail address "), h("strong", answer.data.email), t(" is verified."));
      replace(box, done,
        h("p", ctx.user
          ? h("a", { href: "#/settings" }, t("Back to Settings"))
          : h("a", { href: "#/signin" }, t("Sign in"))));
      done.focus();
      ctx.announce(t("E-mail address verified."));
    });
    replace(box, form);
    return h("section",
      h("h1", t("Confirm your e-mail address")),
      box);
  },
};
