// Settings for every role: the account, two-step sign-in, where it is signed in, password, sign out. Owners also find here how
// they are notified (push on this device, text messages to a verified number) and the
// agencies they joined.

import { del, get, patch, post } from "../../api.js";
import { clearErrors, setBusy, showErrors, values } from "../../forms.js";
import { disablePush, enablePush, pushState } from "../../push.js";
import { confirmInPlace, field, formError, h, relativeTime, replace, time, words } from "../../ui.js";

function accountFacts(user) {
  return h("dl.card.account-facts",
    user.display_name ? [h("dt", "Name"), h("dd", user.display_name)] : null,
    user.email ? [h("dt", "E-mail"), h("dd", user.email)] : null,
    user.phone ? [h("dt", "Mobile"), h("dd", user.phone, user.role === "owner"
      ? h("span.meta", user.phone_verified ? " (verified)" : " (not verified)") : null)] : null,
    h("dt", "Account"), h("dd", words(user.role)),
    h("dt", "Since"), h("dd", time(user.created_at)));
}

// --- push on this device -----------------------------------------------------------------------

function pushSection(ctx) {
  const status = h("p.push-status", { role: "status", "aria-live": "polite" }, "Checking this device…");
  const on = h("button.primary", { type: "button", hidden: true }, "Turn on notifications");
  const off = h("button", { type: "button", hidden: true }, "Turn off notifications on this device");

  function show(result) {
    status.textContent = result.message;
    on.hidden = !(result.state === "disabled" || result.state === "unknown");
    off.hidden = result.state !== "enabled";
  }

  on.addEventListener("click", async () => {
    on.disabled = true;
    status.textContent = "Turning on notifications…";
    const result = await enablePush();
    on.disabled = false;
    show(result);
    if (result.ok) {
      ctx.announce(result.message);
      off.focus();
    }
  });
  off.addEventListener("click", async () => {
    off.disabled = true;
    const result = await disablePush();
    off.disabled = false;
    show(result);
    if (result.ok) {
      on.focus();
    }
  });
  pushState().then((result) => {
    if (ctx.current) {
      show(result);
    }
  });
  return h("div.push-setting",
    h("h3", "Push notifications on this device"),
    h("p", "So you hear when an officer asks for footage near your camera, with Approve and Decline on the notification."),
    status,
    h("div.actions", on, off));
}

// --- which channels requests use ---------------------------------------------------------------

function channelsSection(ctx, user) {
  const push = h("input", { id: "channel-push", name: "notify_push", type: "checkbox", checked: user.notify_push });
  const sms = h("input", { id: "channel-sms", name: "notify_sms", type: "checkbox", checked: user.notify_sms });
  const status = h("p.hint", { role: "status", "aria-live": "polite" });
  async function save(event) {
    const box = event.target;
    box.disabled = true;
    const answer = await patch("/api/auth/me", { [box.name]: box.checked });
    box.disabled = false;
    if (!answer.ok) {
      box.checked = !box.checked;
      status.textContent = answer.error.message;
      return;
    }
    ctx.setUser({ ...ctx.user, ...answer.data });
    status.textContent = `${box.name === "notify_push" ? "Push notifications" : "Text messages"} `
      + `${box.checked ? "on" : "off"} for new requests.`;
  }
  push.addEventListener("change", save);
  sms.addEventListener("change", save);
  return h("fieldset.channel-choice",
    h("legend", "Send me requests by"),
    h("label.check", { for: "channel-push" }, push, "Push notification (on devices where it is turned on)"),
    h("label.check", { for: "channel-sms" }, sms, "Text message (to your verified mobile number)"),
    status);
}

// --- phone verification --------------------------------------------------------------------------

// What verifying a number signs it up for (the opt-in the SMS program registers, docs/DEPLOY.md).
const SMS_CONSENT = "Verifying the number signs it up for Porchlight texts: footage requests from the agencies "
  + "you joined, and answers to your replies. Msg frequency varies. Msg & data rates may apply. "
  + "Reply HELP for help, STOP to opt out.";

function phoneSection(ctx, user) {
  const box = h("div.phone-setting");

  function verified(phone) {
    replace(box,
      h("h3", "Text messages"),
      h("p", "Your mobile number ", h("strong", phone), " is verified: text messages about requests reach it, "
        + "and you can answer by replying YES, NO or NONE with the request’s code. Reply STOP to end texts, "
        + "START to resume."));
  }

  function askForCode() {
    const form = h("form.phone-form", { novalidate: true },
      formError(),
      field("Mobile number", h("input", { id: "settings-phone", name: "phone", type: "tel", autocomplete: "tel",
        inputMode: "tel", value: user.phone || "" }), { hint: "We text a 6-digit code to it, e.g. +1 414 555 0123." }),
      h("button", { type: "submit" }, "Text me a code"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const data = values(form);
      setBusy(form, true);
      const answer = await post("/api/auth/phone/verification", data.phone ? { phone: data.phone } : {});
      setBusy(form, false);
      if (!answer.ok) {
        showErrors(form, answer.error);
        return;
      }
      enterCode(answer.data);
    });
    replace(box,
      h("h3", "Text messages"),
      h("p", user.phone
        ? "Your mobile number is not verified yet, so no text messages are sent to it. Verify it to get requests by text."
        : "Add and verify a mobile number to get requests by text message as well (or instead of push)."),
      form,
      h("p.sms-consent", SMS_CONSENT));
  }

  function enterCode(sent) {
    const form = h("form.code-form", { novalidate: true },
      formError(),
      field("Code from the text message", h("input", { id: "settings-code", name: "code", type: "text",
        inputMode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxLength: 6 }),
      { hint: `Sent to ${sent.phone}; valid until ${new Date(sent.expires_at).toLocaleTimeString([], { timeStyle: "short" })}.` }),
      h("div.actions",
        h("button.primary", { type: "submit" }, "Verify"),
        h("button", { type: "button", onclick: askForCode }, "Use another number")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const code = values(form).code || "";
      setBusy(form, true);
      const answer = await post("/api/auth/phone/verify", { code });
      setBusy(form, false);
      if (!answer.ok) {
        showErrors(form, answer.error);
        return;
      }
      user.phone = answer.data.phone;
      user.phone_verified = answer.data.phone_verified;
      ctx.announce("Mobile number verified.");
      verified(answer.data.phone);
      ctx.refreshUser();
    });
    replace(box,
      h("h3", "Text messages"),
      sent.message ? h("p", { role: "status" }, sent.message) : null,
      form);
    form.querySelector("input").focus();
  }

  if (user.phone && user.phone_verified) {
    verified(user.phone);
  } else {
    askForCode();
  }
  return box;
}

function agenciesSection(ctx, user) {
  const memberships = user.memberships || [];
  return h("section.agencies", { "aria-labelledby": "agencies-title" },
    h("h2", { id: "agencies-title" }, "Agencies you joined"),
    memberships.length
      ? h("ul.cards", memberships.map((m) => h("li",
        h("h3", m.agency_name),
        m.district_name ? h("p.meta", m.district_name) : null,
        h("p.meta", "Joined ", time(m.joined_at)),
        leaveAgency(ctx, m))))
      : h("p.empty", "None yet."),
    h("p", "Each camera says which of them it is shared with (", h("a", { href: "#/cameras" }, "your cameras"),
      "). To join another, ", h("a", { href: "#/scan" }, "scan or type its enrollment code"), "."));
}

function twoStepSection(user) {
  const factor = user.second_factor || {};
  let text;
  if (factor.enabled) {
    const left = factor.recovery_codes_left;
    text = `On: signing in takes your password and a code from your authenticator app. `
      + `${left === 1 ? "1 recovery code" : `${left} recovery codes`} left.`;
  } else if (factor.required) {
    text = "Not set up yet: officers and supervisors sign in with a code from an authenticator app too.";
  } else {
    text = "Off: your password alone signs you in. Turn it on to need a code from an authenticator app as well.";
  }
  return h("section.two-step-setting", { "aria-labelledby": "two-step-title" },
    h("h2", { id: "two-step-title" }, "Two-step sign-in"),
    h("p.two-step-status", { dataset: { enabled: String(Boolean(factor.enabled)) } }, text),
    h("p", h("a.button", { href: "#/two-step" },
      factor.enabled ? "Manage two-step sign-in" : "Set up two-step sign-in")));
}

function passwordSection(ctx) {
  const done = h("p.success", { role: "status", hidden: true });
  const form = h("form.password-form", { novalidate: true },
    formError(),
    field("Current password", h("input", { id: "settings-current-password", name: "current_password", type: "password",
      autocomplete: "current-password", required: true })),
    field("New password", h("input", { id: "settings-new-password", name: "new_password", type: "password",
      autocomplete: "new-password", required: true, minLength: 10 }), { hint: "At least 10 characters." }),
    h("button", { type: "submit" }, "Change password"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    done.hidden = true;
    const data = values(form);
    if (!data.current_password || !data.new_password) {
      showErrors(form, { message: "Please check the fields marked below.", fields: {
        ...(data.current_password ? {} : { current_password: ["Enter your current password."] }),
        ...(data.new_password ? {} : { new_password: ["Choose a new password."] }),
      } });
      return;
    }
    setBusy(form, true);
    const answer = await post("/api/auth/password", data);
    setBusy(form, false);
    if (!answer.ok) {
      showErrors(form, answer.error);
      return;
    }
    form.reset();
    done.hidden = false;
    done.textContent = "Password changed. Every other device you were signed in on is now signed out.";
    ctx.announce("Password changed.");
  });
  return h("section.password", { "aria-labelledby": "password-title" },
    h("h2", { id: "password-title" }, "Change password"), done, form);
}

// --- where this account is signed in -------------------------------------------------------------

// Each signed-in device, this one first; "Sign out" ends that device's session on the server
// (its copy of the cookie stops working at once), "Sign out everywhere else" ends all but this one.
function sessionsSection(ctx) {
  const list = h("ul.cards.session-list");
  const status = h("p.hint", { role: "status", "aria-live": "polite" });
  const others = h("button", { type: "button", hidden: true }, "Sign out everywhere else");

  function card(s) {
    const device = s.user_agent || "Unknown device";
    const end = h("button", { type: "button" }, s.current ? "Sign out this device" : `Sign out ${device}`);
    end.addEventListener("click", async () => {
      end.disabled = true;
      const answer = await del(`/api/auth/sessions/${s.id}`);
      end.disabled = false;
      if (!answer.ok && !(s.current && answer.status === 401)) {
        status.textContent = answer.error.message;
        return;
      }
      if (s.current) {
        ctx.setUser(null);
        ctx.announce("Signed out.");
        ctx.navigate("/");
        return;
      }
      status.textContent = `${device} is signed out.`;
      load();
    });
    return h("li.session-card", { dataset: { current: String(s.current) } },
      h("h3", device, s.current ? h("span.meta", " — this device") : null),
      h("p.meta", "Signed in ", time(s.created_at), s.ip_address ? ` from ${s.ip_address}` : ""),
      h("p.meta", "Last active ", h("time", { dateTime: s.last_seen_at }, relativeTime(s.last_seen_at))),
      end);
  }

  async function load() {
    const answer = await get("/api/auth/sessions");
    if (!answer.ok) {
      replace(list, h("li", answer.error.message));
      return;
    }
    const sessions = [...answer.data].sort((a, b) => Number(b.current) - Number(a.current));
    replace(list, ...sessions.map(card));
    others.hidden = sessions.length < 2;
  }

  others.addEventListener("click", async () => {
    others.disabled = true;
    const answer = await post("/api/auth/sessions/sign-out-others");
    others.disabled = false;
    if (!answer.ok) {
      status.textContent = answer.error.message;
      return;
    }
    status.textContent = answer.data.ended === 1 ? "1 other device is signed out."
      : `${answer.data.ended} other devices are signed out.`;
    ctx.announce(status.textContent);
    load();
  });
  load();
  return h("section.sessions", { "aria-labelledby": "sessions-title" },
    h("h2", { id: "sessions-title" }, "Where you are signed in"),
    h("p", "Every device signed in to your account. If you do not recognise one, sign it out and change your password."),
    status,
    list,
    h("div.actions", others));
}

// --- owner control: leave an agency, download or delete your data -------------------------------

// "Leave <agency>" asks once more, in place, before anything changes.
function leaveAgency(ctx, membership) {
  return confirmInPlace({
    className: "leave-agency",
    label: `Leave ${membership.agency_name}`,
    question: `Leave ${membership.agency_name}? Your cameras stop being shared with it and its open requests to you `
      + "are cancelled. Clips you already delivered stay with it until its retention ends.",
    yes: `Yes, leave ${membership.agency_name}`,
    no: "Stay",
    focus: "confirm",
    act: () => post(`/api/me/agencies/${membership.agency_id}/leave`),
    onDone: (answer, box) => {
      const done = `You left ${membership.agency_name}. ${answer.data.cameras_unshared} camera(s) no longer shared, `
        + `${answer.data.asks_cancelled} open request(s) cancelled. Your history with it stays in History.`;
      replace(box, h("p.success", { role: "status", tabindex: "-1" }, done));
      ctx.announce(done);
      ctx.refreshUser();
    },
  });
}

function deleteAccountForm(ctx) {
  const form = h("form.delete-account-form", { novalidate: true },
    formError(),
    field("Your password", h("input", { id: "delete-password", name: "password", type: "password",
      autocomplete: "current-password", required: true })),
    field("Type DELETE to confirm", h("input", { id: "delete-confirm", name: "confirm", type: "text",
      autocomplete: "off", autocapitalize: "characters", spellcheck: false, required: true })),
    h("button.danger", { type: "submit" }, "Delete my account"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = values(form);
    if (!data.password || data.confirm !== "DELETE") {
      showErrors(form, { message: "Please check the fields marked below.", fields: {
        ...(data.password ? {} : { password: ["Enter your password."] }),
        ...(data.confirm === "DELETE" ? {} : { confirm: ["Type DELETE in capitals."] }),
      } });
      return;
    }
    setBusy(form, true);
    const answer = await del("/api/me", data);
    setBusy(form, false);
    if (!answer.ok) {
      showErrors(form, answer.error);
      return;
    }
    ctx.setUser(null);
    ctx.announce("Your account was deleted.");
    ctx.navigate("/");
  });
  return form;
}

function privacySection(ctx) {
  return h("section.privacy", { "aria-labelledby": "privacy-title" },
    h("h2", { id: "privacy-title" }, "Your data"),
    h("p", "Download everything Porchlight holds about you: your account, cameras, every request and answer, "
      + "the clips you shared (their fingerprints, not the video) and every time police opened them."),
    h("p", h("a.button", { href: "/api/me/export", download: "" }, "Download my data")),
    h("h3", "Delete my account"),
    h("p", "Your account, cameras, phone number and messages are deleted and open requests to you are cancelled. "
      + "Clips you already delivered stay with the agency until its retention ends, with no link to you. "
      + "This cannot be undone."),
    deleteAccountForm(ctx));
}

export default {
  title: "Settings",
  async render(ctx) {
    const me = await get("/api/auth/me");
    const user = me.ok ? me.data : ctx.user;
    const owner = user.role === "owner";
    const signOutError = h("p.form-error", { role: "alert", tabindex: "-1", hidden: true });
    const signOut = h("button", { type: "button" }, "Sign out");
    signOut.addEventListener("click", async () => {
      signOut.disabled = true;
      const answer = await post("/api/auth/signout");
      signOut.disabled = false;
      if (!answer.ok && answer.status !== 401) {
        signOutError.hidden = false;
        signOutError.textContent = answer.error.message;
        signOutError.focus();
        return;
      }
      ctx.setUser(null);
      ctx.announce("Signed out.");
      ctx.navigate("/");
    });
    return h("section.settings",
      h("h1", "Settings"),
      h("section", { "aria-labelledby": "account-title" },
        h("h2", { id: "account-title" }, "Your account"),
        accountFacts(user)),
      owner ? h("section.channels", { "aria-labelledby": "channels-title" },
        h("h2", { id: "channels-title" }, "How you hear about requests"),
        h("p", "Porchlight sends a push notification to each device where you turned them on, and a text message "
          + "to your verified mobile number. An unanswered push is followed by a text."),
        channelsSection(ctx, user),
        pushSection(ctx),
        phoneSection(ctx, user)) : null,
      owner ? agenciesSection(ctx, user) : null,
      twoStepSection(user),
      sessionsSection(ctx),
      passwordSection(ctx),
      owner ? privacySection(ctx) : null,
      h("section", { "aria-labelledby": "signout-title" },
        h("h2", { id: "signout-title" }, "Sign out"),
        signOutError,
        h("p", "Signing out on this device keeps your account and its cameras as they are."),
        signOut));
  },
};
