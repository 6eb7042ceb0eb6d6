// Sign in with e-mail or phone and password; then back to where the user was going.

import { post } from "../../api.js";
import { setBusy, showErrors, values } from "../../forms.js";
import { field, formError, h } from "../../ui.js";

// Only in-app paths are followed after sign-in (never another site).
export function safeNext(query, fallback) {
  const next = query.get("next");
  return next && next.startsWith("/") && !next.startsWith("//") ? next : fallback;
}

export default {
  title: "Sign in",
  async render(ctx) {
    if (ctx.user) {
      ctx.navigate(safeNext(ctx.query, ctx.homeFor(ctx.user)), { replace: true });
      return h("p.loading", "Already signed in…");
    }
    const form = h("form", { novalidate: true },
      formError(),
      field("E-mail or mobile number", h("input", {
        id: "signin-login", name: "login", type: "text", autocomplete: "username", required: true,
        autocapitalize: "off", spellcheck: false,
      })),
      field("Password", h("input", {
        id: "signin-password", name: "password", type: "password", autocomplete: "current-password", required: true,
      })),
      h("button.primary", { type: "submit" }, "Sign in"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      setBusy(form, true);
      const answer = await post("/api/auth/signin", values(form));
      setBusy(form, false);
      if (!answer.ok) {
        showErrors(form, answer.error);
        return;
      }
      ctx.setUser(answer.data);
      ctx.announce("Signed in.");
      ctx.navigate(safeNext(ctx.query, ctx.homeFor(answer.data)), { replace: true });
    });
    const notice = ctx.session.notice;
    ctx.session.notice = "";
    return h("section",
      h("h1", "Sign in"),
      notice ? h("p.alert", { role: "status" }, notice) : null,
      form,
      h("p", "New here? ", h("a", { href: "#/signup" }, "Create an account"), " or ",
        h("a", { href: "#/scan" }, "scan an enrollment QR code"), "."));
  },
};
