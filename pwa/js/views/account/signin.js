// Sign in with e-mail or phone and password; then back to where the user was going.
//
// Accounts with two-step sign-in answer `second_factor_required` to the password alone:
// the form then asks for the authenticator app's code (or a recovery code) and sends
// all three again.

import { post } from "../../api.js";
import { clearErrors, setBusy, showErrors, values } from "../../forms.js";
import { field, formError, h } from "../../ui.js";
import { safeNext } from "./common.js";

function codeStep() {
  const input = h("input", {
    id: "signin-code", name: "code", type: "text", autocomplete: "one-time-code", required: true,
    autocapitalize: "off", spellcheck: false,
  });
  // Not inputmode=numeric: recovery codes have letters.
  const box = h("div.second-step", { hidden: true },
    h("p.second-step-note"),
    field("Code from your authenticator app or a recovery code", input, {
      hint: "The 6 digits your app shows now, or one of the recovery codes you saved (like abcde-23456).",
    }));
  return { box, input, note: box.querySelector(".second-step-note") };
}

export default {
  title: "Sign in",
  async render(ctx) {
    if (ctx.user) {
      ctx.navigate(safeNext(ctx.query, ctx.homeFor(ctx.user)), { replace: true });
      return h("p.loading", "Already signed in…");
    }
    const second = codeStep();
    const submit = h("button.primary", { type: "submit" }, "Sign in");
    const form = h("form", { novalidate: true },
      formError(),
      field("E-mail or mobile number", h("input", {
        id: "signin-login", name: "login", type: "text", autocomplete: "username", required: true,
        autocapitalize: "off", spellcheck: false,
      })),
      field("Password", h("input", {
        id: "signin-password", name: "password", type: "password", autocomplete: "current-password", required: true,
      })),
      second.box,
      submit);
    // Another login or password: the code asked for belonged to the account typed before.
    for (const name of ["login", "password"]) {
      form.elements.namedItem(name).addEventListener("input", () => {
        if (!second.box.hidden) {
          second.box.hidden = true;
          second.input.value = "";
          submit.textContent = "Sign in";
        }
      });
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = values(form);
      if (second.box.hidden) {
        delete data.code;
      } else if (!data.code) {
        showErrors(form, { message: "Please check the fields marked below.",
          fields: { code: ["Enter the code your authenticator app shows, or a recovery code."] } });
        return;
      }
      setBusy(form, true);
      const answer = await post("/api/auth/signin", data);
      setBusy(form, false);
      if (!answer.ok) {
        if (answer.error.code === "second_factor_required") {
          clearErrors(form);
          second.box.hidden = false;
          second.note.textContent = "This account uses two-step sign-in. Open your authenticator app and "
            + "type the code it shows for Porchlight.";
          submit.textContent = "Continue";
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
      ctx.announce("Signed in.");
      // An officer or supervisor without an authenticator yet is taken to set it up first (app.js).
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
