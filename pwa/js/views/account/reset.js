// The e-mailed reset link (#/reset/<token>): check it is still live (a GET that uses nothing),
// then choose the new password. Nobody is signed in by it: the person signs in afterwards,
// with their second factor if the account has one.

import { get } from "../../api.js";
import { errorCard, formError, h } from "../../ui.js";
import { confirmNewPassword, newPasswordFields } from "./common.js";
import { N_, t } from "../../i18n.js";

export default {
  title: N_("Choose a new password"),
  async render(ctx) {
    const token = ctx.params.token;
    const link = await get(`/api/auth/password-reset/link?token=${encodeURIComponent(token)}`);
    if (!link.ok) {
      return h("section",
        h("h1", t("Choose a new password")),
        errorCard(link.error),
        h("p", h("a.button", { href: "#/forgot" }, t("Ask for a new link"))));
    }
    const form = h("form", { novalidate: true },
      formError(),
      // For password managers: which login the new password belongs to.
      h("input", { type: "text", name: "username", autocomplete: "username", value: link.data.email,
        hidden: true, readonly: true, tabindex: "-1", "aria-hidden": "true" }),
      ...newPasswordFields("reset"),
      h("button.primary", { type: "submit" }, t("Set new password")));
    confirmNewPassword(ctx, form, () => ({ token }));
    return h("section",
      h("h1", t("Choose a new password")),
      h("p", t("For your %(account)s (%(email)s). Every device signed in to it will be signed out.", { account: link.data.account, email: link.data.email })),
      form);
  },
};
