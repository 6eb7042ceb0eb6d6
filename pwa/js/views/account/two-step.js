// Two-step sign-in: set it up with an authenticator app (QR code, or a key to type),
// keep the recovery codes shown once, later replace them or, for owners and district
// managers, turn it off.
//
// Officers and supervisors must use it. Until they have set it up the app shows them
// only this screen (app.js) and the API refuses them everything else; `?next=` is
// where they were going, opened once it is on.

import { del, get, post } from "../../api.js";
import { clearErrors, setBusy, showErrors, values } from "../../forms.js";
import { errorCard, field, formatDateTime, formError, h, replace } from "../../ui.js";
import { authenticatorCodeForm, authenticatorQr, safeNext } from "./common.js";
import { N_, t } from "../../i18n.js";

const APPS = t("any app for time-based (TOTP) codes works, e.g. FreeOTP, Aegis, Google Authenticator, "
  + "Microsoft Authenticator, or the one in your password manager");

// A form asking for the password before `send(data)` (an API call); `onAnswer(answer)`
// runs when the API took it, and a refusal shows on the form.
function passwordForm(id, buttonText, { danger = false, send, onAnswer }) {
  const form = h("form", { novalidate: true },
    formError(),
    field(t("Your password"), h("input", { id, name: "password", type: "password", autocomplete: "current-password",
      required: true })),
    h(danger ? "button.danger" : "button", { type: "submit" }, buttonText));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = values(form);
    if (!data.password) {
      showErrors(form, { message: t("Please check the fields marked below."), fields: { password: [t("Enter your password.")] } });
      return;
    }
    setBusy(form, true);
    const answer = await send(data);
    setBusy(form, false);
    if (!answer.ok) {
      showErrors(form, answer.error);
      return;
    }
    await onAnswer(answer);
  });
  return form;
}

function signOutButton(ctx) {
  const error = h("p.form-error", { role: "alert", tabindex: "-1", hidden: true });
  const button = h("button", { type: "button" }, t("Sign out"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    const answer = await post("/api/auth/signout");
    button.disabled = false;
    if (!answer.ok && answer.status !== 401) {
      error.hidden = false;
      error.textContent = answer.error.message;
      error.focus();
      return;
    }
    ctx.setUser(null);
    ctx.announce(t("Signed out."));
    ctx.navigate("/");
  });
  return h("div.sign-out", error, button);
}

export default {
  title: N_("Two-step sign-in"),
  async render(ctx) {
    const me = await get("/api/auth/me");
    if (!me.ok) {
      return h("section", h("h1", t("Two-step sign-in")), errorCard(me.error, () => ctx.navigate("/two-step")));
    }
    let user = me.data;
    ctx.setUser(user);
    const urls = []; // object URLs of downloads, released when the screen closes
    const heading = h("h1", { tabindex: "-1" });
    const box = h("div.two-step");

    // Draws a new step and moves focus to its heading, as a change of screen would.
    function show(title, ...nodes) {
      heading.textContent = title;
      replace(box, ...nodes);
      const first = box.querySelector("h2") || heading;
      first.setAttribute("tabindex", "-1");
      first.focus();
    }

    // After the set-up: on to where the user was going (app.js always says where when it
    // sent them here), else this screen's view of it being on.
    function leave() {
      if (ctx.query.get("next")) {
        ctx.navigate(safeNext(ctx.query, ctx.homeFor(user)), { replace: true });
      } else {
        show(t("Two-step sign-in"), ...status());
      }
    }

    // --- not on yet: why, and Start ------------------------------------------------------------

    function intro(notice) {
      const factor = user.second_factor;
      const error = formError();
      const start = h("button.primary", { type: "button" }, t("Start"));
      start.addEventListener("click", async () => {
        start.disabled = true;
        const answer = await post("/api/auth/second-factor/setup");
        start.disabled = false;
        if (!answer.ok) {
          error.hidden = false;
          error.textContent = answer.error.message;
          error.focus();
          return;
        }
        scan(answer.data);
      });
      const nodes = [
        notice ? h("p.success", { role: "status" }, notice) : null,
        factor.required
          ? [h("p", t("Officers and supervisors sign in with their password and a code from an authenticator app on "
              + "their phone, so that a leaked or guessed password alone cannot open requests or residents’ footage.")),
            factor.setup_required
              ? h("p", h("strong", t("Set it up now: ")), t("Porchlight opens nothing else for your account until it is on. "
                + "It takes a minute."))
              : null]
          : h("p", t("Add a second step to your password: a code from an authenticator app on your phone. "
            + "Someone who learns your password still cannot sign in.")),
        h("ol.steps",
          h("li", t("Have an authenticator app on your phone: %(APPS)s.", { APPS })),
          h("li", t("Press Start. Porchlight shows a QR code to scan with the app, and a key to type into it instead.")),
          h("li", t("Type the 6-digit code the app then shows, and keep the recovery codes you are given."))),
        error,
        h("div.actions", start),
      ];
      if (factor.setup_required) {
        nodes.push(h("h2", t("Not now?")), h("p", t("Sign out, and set it up at your next sign-in.")), signOutButton(ctx));
      }
      return nodes;
    }

    // --- the QR code, the key, and the first code ------------------------------------------------

    function scan(setup) {
      const form = authenticatorCodeForm("two-step", t("Turn on"),
        (code, emailCode) => post("/api/auth/second-factor/confirm",
          setup.email_code_sent_to ? { code, email_code: emailCode || "" } : { code }),
        (data) => {
          user = { ...user, second_factor: data.second_factor };
          ctx.setUser(user);
          ctx.announce(t("Two-step sign-in is on."));
          codes(data.recovery_codes, { notice: t("Two-step sign-in is on."), onDone: leave });
        }, { emailCodeTo: setup.email_code_sent_to });
      show(t("Set up two-step sign-in"),
        h("h2", { tabindex: "-1" }, t("1. Add Porchlight to your app")),
        ...authenticatorQr(setup),
        h("h2", t("2. Type the code the app shows")),
        form);
    }

    // --- recovery codes, shown once ----------------------------------------------------------------

    function codes(list, { notice, onDone }) {
      const text = [t("Porchlight recovery codes"), t("Account: %(email)s", { email: user.email || user.phone || "" }),
        t("Made: %(when)s", { when: formatDateTime(new Date().toISOString()) }),
        t("Each code signs you in once in place of your authenticator app's code."), "", ...list, ""].join("\n");
      const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
      urls.push(url);
      const status = h("p.hint.copy-status", { role: "status" });
      const listNode = h("ol.recovery-codes", list.map((code) => h("li", h("code", code))));
      const copy = h("button", { type: "button" }, t("Copy"));
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(list.join("\n"));
          status.textContent = t("Copied %(length)s codes. Paste them somewhere safe.", { length: list.length });
        } catch {
          // No clipboard (permission refused): select them for the user to copy.
          const range = document.createRange();
          range.selectNodeContents(listNode);
          getSelection().removeAllRanges();
          getSelection().addRange(range);
          status.textContent = t("Could not copy here: the codes are selected, copy them with your device’s Copy.");
        }
      });
      const done = h("button.primary", { type: "button" }, t("I have saved them"));
      done.addEventListener("click", onDone);
      show(user.second_factor.enabled ? t("Two-step sign-in") : t("Set up two-step sign-in"),
        notice ? h("p.success", { role: "status" }, notice) : null,
        h("h2", { tabindex: "-1" }, t("Save your recovery codes")),
        h("p", t("Lost or changed your phone? Each of these codes signs you in once in place of the app’s code. "
          + "Keep them away from your phone: in a password manager, or printed and locked away. "),
        h("strong", t("They are shown only now."))),
        listNode,
        h("div.actions",
          copy,
          h("a.button", { href: url, download: "porchlight-recovery-codes.txt" }, t("Download as a text file"))),
        status,
        h("div.actions", done));
    }

    // --- on: status, new recovery codes, turning it off ----------------------------------------------

    function replaceCodes() {
      const form = passwordForm("two-step-codes-password", t("Make new recovery codes"), {
        send: (data) => post("/api/auth/second-factor/recovery-codes", data),
        onAnswer: (answer) => {
          user = { ...user, second_factor: answer.data.second_factor };
          ctx.setUser(user);
          ctx.announce(t("New recovery codes made."));
          codes(answer.data.recovery_codes, { notice: t("New recovery codes made: the old ones no longer work."),
            onDone: () => show(t("Two-step sign-in"), ...status()) });
        },
      });
      return h("section", { "aria-labelledby": "two-step-codes-title" },
        h("h2", { id: "two-step-codes-title" }, t("Replace recovery codes")),
        h("p", t("New codes replace all the old ones, used or not. Do this when few are left or you think someone saw them.")),
        form);
    }

    function turnOff() {
      const form = passwordForm("two-step-off-password", t("Turn off two-step sign-in"), {
        danger: true,
        send: (data) => del("/api/auth/second-factor", data),
        onAnswer: async () => {
          const fresh = await get("/api/auth/me");
          user = fresh.ok ? fresh.data : { ...user, second_factor: { ...user.second_factor, enabled: false,
            recovery_codes_left: 0 } };
          ctx.setUser(user);
          ctx.announce(t("Two-step sign-in is off."));
          show(t("Set up two-step sign-in"), ...intro(t("Two-step sign-in is off: your password alone signs you in.")));
        },
      });
      return h("section", { "aria-labelledby": "two-step-off-title" },
        h("h2", { id: "two-step-off-title" }, t("Turn off two-step sign-in")),
        h("p", t("Your password alone will sign you in again. Your recovery codes stop working.")),
        form);
    }

    function status() {
      const factor = user.second_factor;
      const left = factor.recovery_codes_left;
      return [
        h("p.two-step-status", h("strong", t("On.")), t(" Signing in takes your password and a code from your authenticator app.")),
        h("p.codes-left", { "data-count": left },
          left === 1 ? t("1 recovery code left.") : t("%(left)s recovery codes left.", { left }),
          left <= 3 ? t(" Make new ones below before they run out.") : null),
        factor.required
          ? h("p", t("Officers and supervisors keep it on. Lost your phone? Sign in with a recovery code, or ask ")
            + (user.role === "supervisor" ? t("another supervisor") : t("a supervisor"))
            + t(" to reset your two-step sign-in; you then set it up again at your next sign-in."))
          : null,
        replaceCodes(),
        factor.required ? null : turnOff(),
      ];
    }

    const factor = user.second_factor;
    let nodes;
    if (factor.enabled) {
      heading.textContent = t("Two-step sign-in");
      nodes = status();
    } else {
      heading.textContent = t("Set up two-step sign-in");
      nodes = intro();
    }
    replace(box, ...nodes);
    return {
      node: h("section.two-step-screen", heading, box),
      cleanup() {
        for (const url of urls) {
          URL.revokeObjectURL(url);
        }
      },
    };
  },
};
