// The /e/<code> page: what an enrollment code joins, then sign up, sign in or join.

import { get, post } from "/app/js/api.js";
import { appConfig, serverLanguages } from "/app/js/config.js";
import { clearErrors, setBusy, showErrors, showMessage, values } from "/app/js/forms.js";
import { registerServiceWorker } from "/app/js/service-worker.js";
import { chooseLanguage, dateTimeFormat, language, setLanguage, setTimeZone, t, translatePage } from "/app/js/i18n.js";
import { languageSwitch } from "/app/js/ui.js";

const SECTIONS = ["problem", "invite", "join", "wrong-role", "accounts", "done"];

const $ = (id) => document.getElementById(id);

const state = {
  code: null, // the lookup answer: {code, display_code, label, agency, district, expires_at}
};

function codeFromPath() {
  const match = /^\/e\/([^/]+)\/?$/.exec(location.pathname);
  if (!match) {
    return "";
  }
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}

function announce(text) {
  $("status").textContent = text;
}

// Shows exactly `names` and moves focus to `focusId` so screen readers follow the change.
function show(names, focusId) {
  for (const name of SECTIONS) {
    $(name).hidden = !names.includes(name);
  }
  if (focusId) {
    $(focusId).focus();
  }
}

function place(code) {
  return code.district ? `${code.district.name}, ${code.agency.name}` : code.agency.name;
}

function showProblem(message) {
  $("problem-message").textContent = message;
  announce("");
  show(["problem"], "problem-title");
}

function showInvite(code) {
  $("invite-agency").textContent = code.agency.name;
  $("invite-district-term").hidden = !code.district;
  $("invite-district").hidden = !code.district;
  $("invite-district").textContent = code.district ? code.district.name : "";
  $("invite-label").textContent = code.label;
  $("invite-code").textContent = code.display_code;
  const expires = new Date(code.expires_at);
  $("invite-expires").dateTime = code.expires_at;
  $("invite-expires").textContent = dateTimeFormat({ dateStyle: "long", timeStyle: "short" }).format(expires);
}

function showDone(membership, already) {
  // Members who already have cameras go to their list; new ones add their first camera.
  $("done-next").textContent = already ? t("Open Porchlight") : t("Add your camera");
  $("done-next").href = already ? "/#/cameras" : "/#/cameras/new?welcome=1";
  const where = membership.district_name
    ? `${membership.district_name} (${membership.agency_name})`
    : membership.agency_name;
  $("done-title").textContent = already ? t("You are already a member") : t("You have joined");
  $("done-message").textContent = already
    ? t("Your account already takes part in %(where)s. Cameras you add are shared with them unless you choose otherwise.", { where })
    : t("Welcome to %(where)s. Cameras you add are shared with them unless you choose otherwise.", { where });
  announce("");
  show(["done"], "done-title");
}

function memberOf(user, code) {
  return (user.memberships || []).find(
    (m) => m.agency_id === code.agency.id && (!code.district || m.district_id === code.district.id),
  );
}

function showSignedIn(user) {
  const code = state.code;
  const who = user.display_name || user.email || user.phone;
  if (user.role !== "owner") {
    $("wrong-role-message").textContent =
      t("You are signed in as %(who)s, with a staff account (%(role)s). Sign out, then join with your own owner account.", { who, role: user.role });
    announce("");
    show(["invite", "wrong-role"], "wrong-role-title");
    return;
  }
  const membership = memberOf(user, code);
  if (membership) {
    showDone(membership, true);
    return;
  }
  $("join-title").textContent = t("Join as %(name)s", { name: who });
  clearErrors($("join-form"));
  announce(t("This code joins %(place)s.", { place: place(code) }));
  show(["invite", "join"]);
}

function showAccounts() {
  announce(t("This code joins %(place)s. Create an account or sign in to join.", { place: place(state.code) }));
  show(["invite", "accounts"]);
}

async function redeem(form) {
  const result = await post("/api/enrollment/redeem", { code: state.code.code });
  if (result.ok) {
    showDone(result.data, false);
  } else {
    showMessage(form, result.error.message);
  }
}

async function onJoin(event) {
  event.preventDefault();
  const form = event.currentTarget;
  setBusy(form, true);
  clearErrors(form);
  await redeem(form);
  setBusy(form, false);
}

async function onSignUp(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const data = values(form);
  if (!data.email && !data.phone) {
    showErrors(form, {
      message: t("Give an e-mail address, a mobile number, or both."),
      fields: { email: [t("Give an e-mail address or a mobile number.")] },
    });
    return;
  }
  setBusy(form, true);
  const body = { ...data, enrollment_code: state.code.code };
  if (await serverLanguages()) {
    body.language = language(); // the account keeps the language it signed up in
  }
  const result = await post("/api/auth/signup", body);
  setBusy(form, false);
  if (!result.ok) {
    showErrors(form, result.error);
    return;
  }
  const membership = memberOf(result.data, state.code);
  if (membership) {
    showDone(membership, false);
    // The new account's addresses are not verified yet: requests reach them only once they are.
    const { email, phone } = result.data;
    let sent;
    if (email && phone) {
      sent = t("We sent a link to %(email)s and a code to %(phone)s to confirm they are yours: requests reach you "
        + "there once confirmed (Settings can resend them).", { email, phone });
    } else if (email) {
      sent = t("We sent a link to %(email)s to confirm it is yours: requests reach you there once confirmed "
        + "(Settings can resend them).", { email });
    } else {
      sent = t("We sent a code to %(phone)s to confirm it is yours: requests reach you there once confirmed "
        + "(Settings can resend them).", { phone });
    }
    $("done-message").textContent += ` ${sent}`;
  } else {
    showSignedIn(result.data);
  }
}

async function onSignIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const data = values(form);
  const missing = {};
  if (!data.login) missing.login = [t("Enter your e-mail address or mobile number.")];
  if (!data.password) missing.password = [t("Enter your password.")];
  if (Object.keys(missing).length) {
    showErrors(form, { message: t("Please check the fields marked below."), fields: missing });
    return;
  }
  setBusy(form, true);
  const result = await post("/api/auth/signin", data);
  if (!result.ok) {
    setBusy(form, false);
    showErrors(form, result.error);
    return;
  }
  form.reset();
  setBusy(form, false);
  const user = result.data;
  showSignedIn(user);
  if (user.role === "owner" && !memberOf(user, state.code)) {
    // Signed in now: any problem joining shows on the join form, with its button to retry.
    const join = $("join-form");
    setBusy(join, true);
    await redeem(join);
    setBusy(join, false);
  }
}

async function onSignOut() {
  const result = await post("/api/auth/signout");
  if (!result.ok && result.status !== 401) {
    announce(result.error.message);
    return;
  }
  for (const form of ["signup-form", "signin-form"]) {
    clearErrors($(form));
  }
  showAccounts();
  $("signup-title").focus();
}

function onRetype(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const typed = values(form).code;
  if (!typed) {
    showErrors(form, { message: t("Type the code first."), fields: { code: [t("Type the code from your sheet.")] } });
    return;
  }
  location.assign(`/e/${encodeURIComponent(typed)}`);
}

function onShowPassword(event) {
  $("signup-password").type = event.currentTarget.checked ? "text" : "password";
}

async function start() {
  // The page's own texts (data-i18n) in this device's language, and a switch to change it.
  await setLanguage(chooseLanguage(null));
  translatePage();
  $("main").prepend(languageSwitch());
  // The same service worker as the app (offline shell, notifications), so the phone
  // that joins here is ready for push as soon as the owner turns it on.
  registerServiceWorker();
  $("retype-form").addEventListener("submit", onRetype);
  $("join-form").addEventListener("submit", onJoin);
  $("signup-form").addEventListener("submit", onSignUp);
  $("signin-form").addEventListener("submit", onSignIn);
  $("join-signout").addEventListener("click", onSignOut);
  $("wrong-role-signout").addEventListener("click", onSignOut);
  $("signup-show-password").addEventListener("change", onShowPassword);

  const typed = codeFromPath();
  $("retype-code").value = typed;
  if (!typed) {
    showProblem(t("This link has no enrollment code in it."));
    return;
  }
  const lookup = await get(`/api/enrollment/lookup/${encodeURIComponent(typed)}`);
  if (!lookup.ok) {
    showProblem(lookup.error.message);
    return;
  }
  state.code = lookup.data;
  // The expiry in the agency's zone when the installation runs one agency (else the phone's).
  const config = await appConfig();
  setTimeZone(config.ok && config.data.time_zone ? config.data.time_zone : undefined);
  showInvite(state.code);
  // Show a clean link in the address bar (and in bookmarks) whatever form was typed.
  history.replaceState(null, "", `/e/${state.code.code}`);

  const me = await get("/api/auth/me");
  if (me.ok) {
    showSignedIn(me.data);
  } else if (me.status === 401) {
    showAccounts();
  } else {
    showProblem(me.error.message);
  }
}

start();
