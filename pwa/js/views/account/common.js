// What the account screens share: where to go once signed in, adding Porchlight to an
// authenticator app, and choosing a new password.

import { post } from "../../api.js";
import { clearErrors, setBusy, showErrors, values } from "../../forms.js";
import { field, formError, h } from "../../ui.js";
import { t } from "../../i18n.js";

// Only in-app paths are followed after sign-in (never another site).
export function safeNext(query, fallback) {
  const next = query.get("next");
  return next && next.startsWith("/") && !next.startsWith("//") ? next : fallback;
}

// "JBSWY3DPEHPK3PXP" → "JBSW Y3DP EHPK 3PXP": easier to type into an app by hand.
export function groupSecret(secret) {
  return (secret.match(/.{1,4}/g) || []).join(" ");
}

// --- adding Porchlight to an authenticator app (two-step.js, join.js) ---

// The QR code, and the key for typing when the app cannot scan it.
export function authenticatorQr(setup) {
  return [
    h("p", t("In your authenticator app, choose to add an account and scan this QR code.")),
    h("figure.qr.two-step-qr",
      h("img", { src: setup.qr_svg, alt: t("QR code that adds your Porchlight account to an authenticator app"),
        width: 200, height: 200 })),
    h("p", t("Cannot scan it? Choose to enter a key instead, and type this one (time-based, 6 digits):")),
    h("p.totp-secret", h("code", groupSecret(setup.secret))),
  ];
}

// The form for the code the app then shows: ``send(code)`` asks the server, ``onDone``
// gets the answer's data; a refusal is shown on the form.
// After a reset of two-step sign-in the set-up also takes a code e-mailed to the account
// (``emailCodeTo``, the address): the password alone must not enrol someone else's app.
export function authenticatorCodeForm(prefix, submitLabel, send, onDone, { emailCodeTo = null } = {}) {
  const input = h("input", { id: `${prefix}-code`, name: "code", type: "text", inputMode: "numeric",
    autocomplete: "one-time-code", autocapitalize: "off", spellcheck: false, required: true });
  const emailCode = emailCodeTo ? field(t("6-digit code from the e-mail"),
    h("input", { id: `${prefix}-email-code`, name: "email_code", type: "text", inputMode: "numeric",
      autocomplete: "off", autocapitalize: "off", spellcheck: false, required: true }),
    { hint: t("Your two-step sign-in was reset, so we also e-mailed a code to %(email)s.", { email: emailCodeTo }) })
    : null;
  const form = h(`form.${prefix}-confirm`, { novalidate: true },
    formError(),
    field(t("6-digit code from the app"), input,
      { hint: t("The app shows a new code every 30 seconds: type the one it shows now.") }),
    emailCode,
    h("button.primary", { type: "submit" }, submitLabel));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = values(form);
    if (!data.code) {
      showErrors(form, { message: t("Please check the fields marked below."),
        fields: { code: [t("Type the 6 digits your app shows for Porchlight.")] } });
      return;
    }
    setBusy(form, true);
    const answer = await send(data.code, data.email_code);
    setBusy(form, false);
    if (!answer.ok) {
      showErrors(form, answer.error);
      return;
    }
    onDone(answer.data);
  });
  return form;
}

// --- choosing a new password after "Forgot password?" (forgot.js, reset.js) ---

const PASSWORD_CHANGED = t("Password changed. Sign in with your new password.");

// The new password, twice.
export function newPasswordFields(prefix) {
  return [
    field(t("New password"), h("input", { id: `${prefix}-password`, name: "password", type: "password",
      autocomplete: "new-password", required: true }), { hint: t("At least 10 characters; not an easy one.") }),
    field(t("New password again"), h("input", { id: `${prefix}-password-again`, name: "password_again",
      type: "password", autocomplete: "new-password", required: true })),
  ];
}

// An error for showErrors when the two differ or are empty, else null.
function passwordsDiffer(data) {
  if (!data.password) {
    return { message: t("Please check the fields marked below."), fields: { password: [t("Type a new password.")] } };
  }
  if (data.password !== data.password_again) {
    return { message: t("Please check the fields marked below."),
      fields: { password_again: [t("The two passwords differ; type the same one twice.")] } };
  }
  return null;
}

// The reset signed nobody in and ended every session (this browser's too): on to sign in.
function passwordChanged(ctx) {
  ctx.setUser(null);
  ctx.session.notice = PASSWORD_CHANGED;
  ctx.announce(PASSWORD_CHANGED);
  ctx.navigate("/signin", { replace: true });
}

// Submitting ``form``'s new password: the two fields checked here, then the reset confirmed
// with ``proof(data)``, the e-mailed link's token or the login and the texted code.
export function confirmNewPassword(ctx, form, proof) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = values(form);
    clearErrors(form);
    const differ = passwordsDiffer(data);
    if (differ) {
      showErrors(form, differ);
      return;
    }
    setBusy(form, true);
    const answer = await post("/api/auth/password-reset/confirm", { ...proof(data), password: data.password });
    setBusy(form, false);
    if (!answer.ok) {
      showErrors(form, answer.error);
      return;
    }
    passwordChanged(ctx);
  });
}
