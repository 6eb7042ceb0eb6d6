// Settings for every role: the account, two-step sign-in, where it is signed in, password, sign out. Owners also find here how
// they are notified (push on this device, text messages to a verified number), the
// agencies they joined, and their filters (owner-filters.js).

import { del, get, patch, post } from "../../api.js";
import { clearErrors, setBusy, showErrors, values } from "../../forms.js";
import { homeScreenGuide } from "../../ios-install.js";
import { disablePush, enablePush, pushState } from "../../push.js";
import { confirmInPlace, field, formError, h, languageSwitch, relativeTime, replace, time, words } from "../../ui.js";
import { serverLanguages } from "../../config.js";
import { dateTimeFormat, N_, setLanguage, t, tn } from "../../i18n.js";
import { filtersSection } from "../../owner-filters.js";

function accountFacts(user) {
  return h("dl.card.account-facts",
    user.display_name ? [h("dt", t("Name")), h("dd", user.display_name)] : null,
    user.email ? [h("dt", t("E-mail")), h("dd", user.email,
      h("span.meta", user.email_verified ? t(" (verified)") : t(" (not verified)")))] : null,
    user.phone ? [h("dt", t("Mobile")), h("dd", user.phone, user.role === "owner"
      ? h("span.meta", user.phone_verified ? t(" (verified)") : t(" (not verified)")) : null)] : null,
    h("dt", t("Account")), h("dd", user.role === "owner" ? t("Camera owner") : words(user.role)),
    h("dt", t("Since")), h("dd", time(user.created_at)));
}

// --- language ------------------------------------------------------------------------------------

// The account keeps its language (texts, e-mails and SMS come in it); a server without
// languages yet leaves the choice on this device. The page then reloads in the language.
function languageSection(ctx) {
  return h("section.language", { "aria-labelledby": "language-title" },
    h("h2", { id: "language-title" }, t("Language")),
    h("p", t("The app, and the e-mails and text messages Porchlight sends you, use this language.")),
    languageSwitch(async (code) => {
      if (await serverLanguages()) {
        const answer = await patch("/api/auth/me", { language: code });
        if (!answer.ok) {
          return answer.error.message;
        }
        ctx.setUser({ ...ctx.user, ...answer.data });
      }
      await setLanguage(code, { remember: true });
      location.reload();
      return null;
    }));
}

// --- push on this device -----------------------------------------------------------------------

function pushSection(ctx) {
  const status = h("p.push-status", { role: "status", "aria-live": "polite" }, t("Checking this device…"));
  const on = h("button.primary", { type: "button", hidden: true }, t("Turn on notifications"));
  const off = h("button", { type: "button", hidden: true }, t("Turn off notifications on this device"));
  // An iPhone or iPad in a browser tab: how to install instead of a button that cannot work.
  const guide = homeScreenGuide({ inSettings: true, level: 4 });
  guide.hidden = true;

  function show(result) {
    status.textContent = result.message;
    on.hidden = !(result.state === "disabled" || result.state === "unknown");
    off.hidden = result.state !== "enabled";
    guide.hidden = result.state !== "install";
  }

  on.addEventListener("click", async () => {
    on.disabled = true;
    status.textContent = t("Turning on notifications…");
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
    h("h3", t("Push notifications on this device")),
    h("p", t("So you hear when an officer asks for footage near your camera, with Approve and Decline on the notification.")),
    status,
    guide,
    h("div.actions", on, off));
}

// --- which channels requests use ---------------------------------------------------------------

function channelsSection(ctx, user) {
  const push = h("input", { id: "channel-push", name: "notify_push", type: "checkbox", checked: user.notify_push });
  const sms = h("input", { id: "channel-sms", name: "notify_sms", type: "checkbox", checked: user.notify_sms });
  const email = h("input", { id: "channel-email", name: "notify_email", type: "checkbox", checked: user.notify_email });
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
    const names = { notify_push: t("Push notifications"), notify_sms: t("Text messages"), notify_email: t("E-mails") };
    status.textContent = box.checked ? t("%(channel)s on for new requests.", { channel: names[box.name] })
      : t("%(channel)s off for new requests.", { channel: names[box.name] });
  }
  push.addEventListener("change", save);
  sms.addEventListener("change", save);
  email.addEventListener("change", save);
  return h("fieldset.channel-choice",
    h("legend", t("Send me requests by")),
    h("label.check", { for: "channel-push" }, push, t("Push notification (on devices where it is turned on)")),
    h("label.check", { for: "channel-sms" }, sms, t("Text message (to your verified mobile number)")),
    h("label.check", { for: "channel-email" }, email, t("E-mail (to your verified address)")),
    status);
}

// --- e-mail verification -----------------------------------------------------------------------

// An address gets nothing from Porchlight until its holder opens the link sent to it: a new
// one (added, or changed to) becomes the account's only then, and the old one is kept till then.
function emailSection(ctx, user) {
  const status = h("p", { role: "status" });
  const verified = Boolean(user.email && user.email_verified);
  const input = h("input", { id: "settings-email", name: "email", type: "email", autocomplete: "email",
    spellcheck: false, value: user.email && !verified ? user.email : "" });
  const form = h("form.email-form", { novalidate: true },
    formError(),
    field(verified ? t("New e-mail address") : t("E-mail address"), input,
      { hint: t("We e-mail a link to it. It becomes your address when you open the link and press Confirm.") }),
    h("button", { type: "submit" }, verified ? t("Send a link to the new address") : t("Send me a link to verify it")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const email = (values(form).email || "").trim();
    setBusy(form, true);
    const answer = await post("/api/auth/email/verification", email ? { email } : {});
    setBusy(form, false);
    if (!answer.ok) {
      showErrors(form, answer.error);
      return;
    }
    status.textContent = answer.data.message;
    form.querySelector("button").textContent = t("Resend the link");
  });
  let intro;
  if (verified) {
    intro = h("p", t("Your e-mail address "), h("strong", user.email), t(" is verified. To change it, give the new "
      + "one: this one stays yours until you confirm the new one from the link we send to it."));
  } else if (user.email) {
    intro = h("p", t("Your e-mail address "), h("strong", user.email), t(" is not verified yet: open the link we sent "
      + "to it and press Confirm. Until then nothing is sent to it."));
  } else {
    intro = h("p", t("Add an e-mail address to get requests by e-mail and to reset your password by e-mail."));
  }
  return h("section.email-setting", { "aria-labelledby": "email-title" },
    h("h2", { id: "email-title" }, t("Your e-mail address")),
    intro,
    form,
    status);
}

// --- the order channels are tried in ---------------------------------------------------------------

const CHANNEL_NAMES = { push: t("Push notification"), sms: t("Text message"), email: t("E-mail") };
const POSITIONS = ["first", "second", "third", "fourth"];

// The owner's channels as an ordered list; each moves with Up and Down buttons (keyboard and
// screen readers reach them like any button), and each move is saved at once.
function orderSection(ctx, user) {
  let order = [...(user.channel_order || ["push", "sms", "email"])];
  const list = h("ol.channel-order");
  const status = h("p.hint", { role: "status", "aria-live": "polite" });

  async function move(channel, by) {
    const from = order.indexOf(channel);
    const next = [...order];
    next.splice(from, 1);
    next.splice(from + by, 0, channel);
    list.querySelectorAll("button").forEach((button) => { button.disabled = true; });
    const answer = await patch("/api/auth/me", { channel_order: next });
    if (answer.ok) {
      order = answer.data.channel_order;
      ctx.setUser({ ...ctx.user, ...answer.data });
      status.textContent = t("%(channel)s is now tried %(position)s.", { channel: t(CHANNEL_NAMES[channel]), position: t(POSITIONS[order.indexOf(channel)]) });
    } else {
      status.textContent = answer.error.message;
    }
    draw();
    // Focus stays with the channel that moved, on the button that can still move it that way.
    const item = list.querySelector(`[data-channel="${channel}"]`);
    const again = item.querySelector(by < 0 ? ".move-up" : ".move-down");
    (again.disabled ? item.querySelector("button:not([disabled])") : again)?.focus();
  }

  function draw() {
    list.replaceChildren(...order.map((channel, index) => {
      const name = CHANNEL_NAMES[channel] || words(channel);
      // The name starts with the visible word, so voice control finds "Up" and "Down".
      const up = h("button.move-up", { type: "button", disabled: index === 0, "aria-label": t("Up: try %(name)s earlier", { name }) },
        t("Up"));
      const down = h("button.move-down", { type: "button", disabled: index === order.length - 1,
        "aria-label": t("Down: try %(name)s later", { name }) }, t("Down"));
      up.addEventListener("click", () => move(channel, -1));
      down.addEventListener("click", () => move(channel, 1));
      return h("li", { dataset: { channel } }, h("span.channel-name", name), h("span.actions", up, down));
    }));
  }

  draw();
  return h("div.channel-order-setting",
    h("h3", { id: "order-title" }, t("Which channel first")),
    h("p", t("A request goes on the first of these that reaches you (switched on, and verified or set up on a "
      + "device). If you do not answer within the agency’s waiting time, it follows on the next one.")),
    h("div", { role: "group", "aria-labelledby": "order-title" }, list),
    status);
}

// --- phone verification --------------------------------------------------------------------------

// What verifying a number signs it up for (the opt-in the SMS program registers, docs/DEPLOY.md).
const SMS_CONSENT = t("Verifying the number signs it up for Porchlight texts: footage requests from the agencies "
  + "you joined, and answers to your replies. Msg frequency varies. Msg & data rates may apply. "
  + "Reply HELP for help, STOP to opt out.");

function phoneSection(ctx, user) {
  const box = h("div.phone-setting");

  function verified(phone) {
    replace(box,
      h("h3", t("Text messages")),
      h("p", t("Your mobile number "), h("strong", phone), t(" is verified: text messages about requests reach it, "
        + "and you can answer by replying YES, NO or NONE with the request’s code. Reply STOP to end texts, "
        + "START to resume.")));
  }

  function askForCode() {
    const form = h("form.phone-form", { novalidate: true },
      formError(),
      field(t("Mobile number"), h("input", { id: "settings-phone", name: "phone", type: "tel", autocomplete: "tel",
        inputMode: "tel", value: user.phone || "" }), { hint: t("We text a 6-digit code to it, e.g. +1 414 555 0123.") }),
      h("button", { type: "submit" }, t("Text me a code")));
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
      h("h3", t("Text messages")),
      h("p", user.phone
        ? t("Your mobile number is not verified yet, so no text messages are sent to it. Verify it to get requests by text.")
        : t("Add and verify a mobile number to get requests by text message as well (or instead of push).")),
      form,
      h("p.sms-consent", SMS_CONSENT));
  }

  function enterCode(sent) {
    const form = h("form.code-form", { novalidate: true },
      formError(),
      field(t("Code from the text message"), h("input", { id: "settings-code", name: "code", type: "text",
        inputMode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxLength: 6 }),
      { hint: t("Sent to %(phone)s; valid until %(time)s.", { phone: sent.phone, time: dateTimeFormat({ timeStyle: "short" }).format(new Date(sent.expires_at)) }) }),
      h("div.actions",
        h("button.primary", { type: "submit" }, t("Verify")),
        h("button", { type: "button", onclick: askForCode }, t("Use another number"))));
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
      ctx.announce(t("Mobile number verified."));
      verified(answer.data.phone);
      ctx.refreshUser();
    });
    replace(box,
      h("h3", t("Text messages")),
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
    h("h2", { id: "agencies-title" }, t("Agencies you joined")),
    memberships.length
      ? h("ul.cards", memberships.map((m) => h("li",
        h("h3", m.agency_name),
        m.district_name ? h("p.meta", m.district_name) : null,
        h("p.meta", t("Joined "), time(m.joined_at)),
        leaveAgency(ctx, m))))
      : h("p.empty", t("None yet.")),
    h("p", t("Each camera says which of them it is shared with ("), h("a", { href: "#/cameras" }, t("your cameras")),
      t("). To join another, "), h("a", { href: "#/scan" }, t("scan or type its enrollment code")), "."));
}

function twoStepSection(user) {
  const factor = user.second_factor || {};
  let text;
  if (factor.enabled) {
    const left = factor.recovery_codes_left;
    text = t("On: signing in takes your password and a code from your authenticator app. ")
      + tn("%(count)s recovery code left.", "%(count)s recovery codes left.", left);
  } else if (factor.required) {
    text = t("Not set up yet: officers and supervisors sign in with a code from an authenticator app too.");
  } else {
    text = t("Off: your password alone signs you in. Turn it on to need a code from an authenticator app as well.");
  }
  return h("section.two-step-setting", { "aria-labelledby": "two-step-title" },
    h("h2", { id: "two-step-title" }, t("Two-step sign-in")),
    h("p.two-step-status", { dataset: { enabled: String(Boolean(factor.enabled)) } }, text),
    h("p", h("a.button", { href: "#/two-step" },
      factor.enabled ? t("Manage two-step sign-in") : t("Set up two-step sign-in"))));
}

function passwordSection(ctx) {
  const done = h("p.success", { role: "status", hidden: true });
  const form = h("form.password-form", { novalidate: true },
    formError(),
    field(t("Current password"), h("input", { id: "settings-current-password", name: "current_password", type: "password",
      autocomplete: "current-password", required: true })),
    field(t("New password"), h("input", { id: "settings-new-password", name: "new_password", type: "password",
      autocomplete: "new-password", required: true, minLength: 10 }), { hint: t("At least 10 characters.") }),
    h("button", { type: "submit" }, t("Change password")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    done.hidden = true;
    const data = values(form);
    if (!data.current_password || !data.new_password) {
      showErrors(form, { message: t("Please check the fields marked below."), fields: {
        ...(data.current_password ? {} : { current_password: [t("Enter your current password.")] }),
        ...(data.new_password ? {} : { new_password: [t("Choose a new password.")] }),
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
    done.textContent = t("Password changed. Every other device you were signed in on is now signed out.");
    ctx.announce(t("Password changed."));
  });
  return h("section.password", { "aria-labelledby": "password-title" },
    h("h2", { id: "password-title" }, t("Change password")), done, form);
}

// --- where this account is signed in -------------------------------------------------------------

// Each signed-in device, this one first; "Sign out" ends that device's session on the server
// (its copy of the cookie stops working at once), "Sign out everywhere else" ends all but this one.
function sessionsSection(ctx) {
  const list = h("ul.cards.session-list");
  const status = h("p.hint", { role: "status", "aria-live": "polite" });
  const others = h("button", { type: "button", hidden: true }, t("Sign out everywhere else"));

  function card(s) {
    const device = s.user_agent || t("Unknown device");
    const end = h("button", { type: "button" }, s.current ? t("Sign out this device") : t("Sign out %(device)s", { device }));
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
        ctx.announce(t("Signed out."));
        ctx.navigate("/");
        return;
      }
      status.textContent = t("%(device)s is signed out.", { device });
      load();
    });
    return h("li.session-card", { dataset: { current: String(s.current) } },
      h("h3", device, s.current ? h("span.meta", t(" — this device")) : null),
      h("p.meta", t("Signed in "), time(s.created_at), s.ip_address ? t(" from %(address)s", { address: s.ip_address }) : ""),
      h("p.meta", t("Last active "), h("time", { dateTime: s.last_seen_at }, relativeTime(s.last_seen_at))),
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
    status.textContent = answer.data.ended === 1 ? t("1 other device is signed out.")
      : t("%(ended)s other devices are signed out.", { ended: answer.data.ended });
    ctx.announce(status.textContent);
    load();
  });
  load();
  return h("section.sessions", { "aria-labelledby": "sessions-title" },
    h("h2", { id: "sessions-title" }, t("Where you are signed in")),
    h("p", t("Every device signed in to your account. If you do not recognise one, sign it out and change your password.")),
    status,
    list,
    h("div.actions", others));
}

// --- owner control: leave an agency, download or delete your data -------------------------------

// "Leave <agency>" asks once more, in place, before anything changes.
function leaveAgency(ctx, membership) {
  return confirmInPlace({
    className: "leave-agency",
    label: t("Leave %(agency_name)s", { agency_name: membership.agency_name }),
    question: t("Leave %(agency_name)s? Your cameras stop being shared with it and its open requests to you ", { agency_name: membership.agency_name })
      + t("are cancelled. Clips you already delivered stay with it until its retention ends."),
    yes: t("Yes, leave %(agency_name)s", { agency_name: membership.agency_name }),
    no: t("Stay"),
    focus: "confirm",
    act: () => post(`/api/me/agencies/${membership.agency_id}/leave`),
    onDone: (answer, box) => {
      const done = t("You left %(agency_name)s. %(cameras_unshared)s camera(s) no longer shared, ", { agency_name: membership.agency_name, cameras_unshared: answer.data.cameras_unshared })
        + t("%(asks_cancelled)s open request(s) cancelled. Your history with it stays in History.", { asks_cancelled: answer.data.asks_cancelled });
      replace(box, h("p.success", { role: "status", tabindex: "-1" }, done));
      ctx.announce(done);
      ctx.refreshUser();
    },
  });
}

function deleteAccountForm(ctx) {
  const form = h("form.delete-account-form", { novalidate: true },
    formError(),
    field(t("Your password"), h("input", { id: "delete-password", name: "password", type: "password",
      autocomplete: "current-password", required: true })),
    field(t("Type DELETE to confirm"), h("input", { id: "delete-confirm", name: "confirm", type: "text",
      autocomplete: "off", autocapitalize: "characters", spellcheck: false, required: true })),
    h("button.danger", { type: "submit" }, t("Delete my account")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = values(form);
    if (!data.password || data.confirm !== "DELETE") {
      showErrors(form, { message: t("Please check the fields marked below."), fields: {
        ...(data.password ? {} : { password: [t("Enter your password.")] }),
        ...(data.confirm === "DELETE" ? {} : { confirm: [t("Type DELETE in capitals.")] }),
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
    ctx.announce(t("Your account was deleted."));
    ctx.navigate("/");
  });
  return form;
}

function privacySection(ctx) {
  return h("section.privacy", { "aria-labelledby": "privacy-title" },
    h("h2", { id: "privacy-title" }, t("Your data")),
    h("p", t("Download everything Porchlight holds about you: your account, cameras, every request and answer, "
      + "the clips you shared (their fingerprints, not the video) and every time police opened them.")),
    h("p", h("a.button", { href: "/api/me/export", download: "" }, t("Download my data"))),
    h("h3", t("Delete my account")),
    h("p", t("Your account, cameras, phone number and messages are deleted and open requests to you are cancelled. "
      + "Clips you already delivered stay with the agency until its retention ends, with no link to you. "
      + "This cannot be undone.")),
    deleteAccountForm(ctx));
}

export default {
  title: N_("Settings"),
  async render(ctx) {
    const me = await get("/api/auth/me");
    const user = me.ok ? me.data : ctx.user;
    const owner = user.role === "owner";
    const signOutError = h("p.form-error", { role: "alert", tabindex: "-1", hidden: true });
    const signOut = h("button", { type: "button" }, t("Sign out"));
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
      ctx.announce(t("Signed out."));
      ctx.navigate("/");
    });
    return h("section.settings",
      h("h1", t("Settings")),
      h("section", { "aria-labelledby": "account-title" },
        h("h2", { id: "account-title" }, t("Your account")),
        accountFacts(user)),
      languageSection(ctx),
      emailSection(ctx, user),
      owner ? h("section.channels", { "aria-labelledby": "channels-title" },
        h("h2", { id: "channels-title" }, t("How you hear about requests")),
        h("p", t("Porchlight sends a push notification to each device where you turned them on, a text message "
          + "to your verified mobile number or an e-mail to your verified address, in the order you choose. An "
          + "unanswered request follows on your next channel.")),
        channelsSection(ctx, user),
        orderSection(ctx, user),
        pushSection(ctx),
        phoneSection(ctx, user)) : null,
      owner ? agenciesSection(ctx, user) : null,
      owner ? filtersSection(ctx) : null,
      twoStepSection(user),
      sessionsSection(ctx),
      passwordSection(ctx),
      owner ? privacySection(ctx) : null,
      h("section", { "aria-labelledby": "signout-title" },
        h("h2", { id: "signout-title" }, t("Sign out")),
        signOutError,
        h("p", t("Signing out on this device keeps your account and its cameras as they are.")),
        signOut));
  },
};
