// The /e/<code> page: what an enrollment code joins, then sign up, sign in or join.

import { get, post } from "/app/js/api.js";
import { clearErrors, setBusy, showErrors, showMessage, values } from "/app/js/forms.js";
import { registerServiceWorker } from "/app/js/service-worker.js";

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
  $("invite-expires").textContent = expires.toLocaleString(undefined, { dateStyle: "long", timeStyle: "short" });
}

function showDone(membership, already) {
  // Members who already have cameras go to their list; new ones add their first camera.
  $("done-next").textContent = already ? "Open Porchlight" : "Add your camera";
  $("done-next").href = already ? "/#/cameras" : "/#/cameras/new?welcome=1";
  const where = membership.district_name
    ? `${membership.district_name} (${membership.agency_name})`
    : membership.agency_name;
  $("done-title").textContent = already ? "You are already a member" : "You have joined";
  $("done-message").textContent = already
    ? `Your account already takes part in ${where}. Cameras you add are shared with them unless you choose otherwise.`
    : `Welcome to ${where}. Cameras you add are shared with them unless you choose otherwise.`;
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
      `You are signed in as ${who}, with a staff account (${user.role}). Sign out, then join with your own owner account.`;
    announce("");
    show(["invite", "wrong-role"], "wrong-role-title");
    return;
  }
  const membership = memberOf(user, code);
  if (membership) {
    showDone(membership, true);
    return;
  }
  $("join-who").textContent = who;
  clearErrors($("join-form"));
  announce(`This code joins ${place(code)}.`);
  show(["invite", "join"]);
}

function showAccounts() {
  announce(`This code joins ${place(state.code)}. Create an account or sign in to join.`);
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
      message: "Give an e-mail address, a mobile number, or both.",
      fields: { email: ["Give an e-mail address or a mobile number."] },
    });
    return;
  }
  setBusy(form, true);
  const result = await post("/api/auth/signup", { ...data, enrollment_code: state.code.code });
  setBusy(form, false);
  if (!result.ok) {
    if (result.error.code === "account_exists") {
      // Help the person over to the sign-in form with what they typed.
      $("signin-login").value = data.email || data.phone || "";
    }
    showErrors(form, result.error);
    return;
  }
  const membership = memberOf(result.data, state.code);
  if (membership) {
    showDone(membership, false);
  } else {
    showSignedIn(result.data);
  }
}

async function onSignIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const data = values(form);
  const missing = {};
  if (!data.login) missing.login = ["Enter your e-mail address or mobile number."];
  if (!data.password) missing.password = ["Enter your password."];
  if (Object.keys(missing).length) {
    showErrors(form, { message: "Please check the fields marked below.", fields: missing });
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
    showErrors(form, { message: "Type the code first.", fields: { code: ["Type the code from your sheet."] } });
    return;
  }
  location.assign(`/e/${encodeURIComponent(typed)}`);
}

function onShowPassword(event) {
  $("signup-password").type = event.currentTarget.checked ? "text" : "password";
}

async function start() {
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
    showProblem("This link has no enrollment code in it.");
    return;
  }
  const lookup = await get(`/api/enrollment/lookup/${encodeURIComponent(typed)}`);
  if (!lookup.ok) {
    showProblem(lookup.error.message);
    return;
  }
  state.code = lookup.data;
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
