// Owner sign-up: e-mail and/or mobile number, password, optional name and enrollment code.

import { post } from "../../api.js";
import { setBusy, showErrors, values } from "../../forms.js";
import { field, formError, h } from "../../ui.js";

export default {
  title: "Sign up",
  async render(ctx) {
    if (ctx.user) {
      ctx.navigate(ctx.homeFor(ctx.user), { replace: true });
      return h("p.loading", "Already signed in…");
    }
    const code = ctx.query.get("code") || "";
    const form = h("form", { novalidate: true },
      formError(),
      field("Your name", h("input", { id: "signup-name", name: "display_name", type: "text", autocomplete: "name" }),
        { optional: true }),
      field("E-mail", h("input", { id: "signup-email", name: "email", type: "email", autocomplete: "email",
        autocapitalize: "off", spellcheck: false }),
      { hint: "Give an e-mail address, a mobile number, or both." }),
      field("Mobile number", h("input", { id: "signup-phone", name: "phone", type: "tel", autocomplete: "tel",
        inputmode: "tel" }), { hint: "For text messages when an officer asks for footage." }),
      field("Password", h("input", { id: "signup-password", name: "password", type: "password",
        autocomplete: "new-password", required: true }), { hint: "At least 10 characters." }),
      field("Enrollment code", h("input", { id: "signup-code", name: "enrollment_code", type: "text",
        class: "code", autocomplete: "off", autocapitalize: "characters", spellcheck: false, value: code,
        placeholder: "ABCD-EFGH" }), { optional: true, hint: "From your neighbourhood’s QR sheet." }),
      h("button.primary", { type: "submit" }, "Create account"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      setBusy(form, true);
      const answer = await post("/api/auth/signup", values(form));
      setBusy(form, false);
      if (!answer.ok) {
        showErrors(form, answer.error);
        return;
      }
      ctx.setUser(answer.data);
      ctx.announce("Account created. You are signed in.");
      ctx.navigate("/cameras/new?welcome=1", { replace: true });
    });
    return h("section",
      h("h1", "Create your owner account"),
      h("p", "Camera owners join voluntarily and decide about every request."),
      form,
      h("p", "Already have an account? ", h("a", { href: "#/signin" }, "Sign in"), "."));
  },
};
