// One request for footage: what the officer asks, the owner's answer, and — once
// approved — the clip upload (tus, see upload.js) with each delivered clip's SHA-256.
// When the camera's recorder clock is known, the time asked for is also given as the
// recorder shows it; while the ask is open, how long before the recorder records over it.

import { get, post } from "../../api.js";
import { appConfig, askRules } from "../../config.js";
import { setBusy, showErrors } from "../../forms.js";
import { offsetText, overwriteText } from "../../recorder-clock.js";
import { uploadPanel } from "../../upload.js";
import {
  errorCard, formatBytes, formatDistance, formatWindow, h, relativeTime, replace, time,
} from "../../ui.js";
import {
  ANSWERS, clipClockNote, clipStatusText, endedFact, outcomeParagraph, sha256Block, statePill,
} from "./common.js";
import { N_, t, tn } from "../../i18n.js";

function closed(ask) {
  return Boolean(ask.deadline) && new Date(ask.deadline).getTime() <= Date.now();
}

function facts(ask, rules) {
  return h("dl.card.ask-facts",
    h("dt", t("Case number")), h("dd", ask.case_number),
    h("dt", t("Incident")), h("dd", ask.incident_type),
    // Both come in the owner's language from the server (a default category's label
    // translated, an agency's own label as the agency wrote it).
    ask.offense_category_label ? [h("dt", t("Offense category")), h("dd.offense-category", ask.offense_category_label)]
      : null,
    ask.legal_basis_text ? [h("dt", t("Legal basis")),
      h("dd.legal-basis", { dataset: { basis: ask.legal_basis } }, ask.legal_basis_text)] : null,
    h("dt", t("Time asked for")), h("dd", formatWindow(ask.window_start, ask.window_end)),
    ask.recorder_window ? [h("dt", t("On your recorder’s clock")), h("dd.recorder-window",
      formatWindow(ask.recorder_window.start, ask.recorder_window.end),
      h("span.meta", " ", t("(your recorder was %(offset)s when last read)", { offset: offsetText(ask.recorder_window.offset_s) })))] : null,
    h("dt", t("Your camera")), h("dd", ask.camera_id
      ? h("a", { href: `#/cameras/${ask.camera_id}` }, ask.camera_label) : ask.camera_label),
    h("dt", t("Distance")), h("dd", t("%(distance)s from the incident", { distance: formatDistance(ask.distance_m) })),
    endedFact(ask) || (ask.deadline ? [h("dt", closed(ask) ? t("Closed") : t("Answer by")),
      h("dd", time(ask.deadline), closed(ask) ? null : ` (${relativeTime(ask.deadline)})`)] : null),
    h("dt", t("Asked")), h("dd", time(ask.created_at)),
    rules.isOpen(ask.state) && ask.reply_code
      ? [h("dt", t("Text reply code")), h("dd.code", ask.reply_code)] : null);
}

// The days before the recorder records over the time asked for, while that still matters.
function overwriteReminder(ask, rules) {
  const text = overwriteText(ask.overwrite_days_left);
  const pending = rules.isOpen(ask.state) || rules.awaitsClips(ask.state);
  return text && pending && !closed(ask)
    ? h("p.card.overwrite-reminder", { dataset: { daysLeft: String(ask.overwrite_days_left) } }, text) : null;
}

function accessText(access) {
  const who = access.accessor_role === "supervisor" ? t("A supervisor") : access.accessor_role === "officer"
    ? t("An officer") : t("Agency staff");
  const text = access.action === "download"
    ? t(" — %(who)s of %(agency_name)s downloaded it", { who, agency_name: access.agency_name })
    : t(" — %(who)s of %(agency_name)s played it", { who, agency_name: access.agency_name });
  return [time(access.accessed_at), text];
}

function clipItem(clip, announce) {
  const name = clip.filename || t("Clip %(id)s", { id: clip.id });
  return h("li.clip", { dataset: { clipId: String(clip.id), status: clip.status } },
    h("h3", name),
    h("p.meta", `${formatBytes(clip.size)} · ${clipStatusText(clip)}`,
      clip.completed_at ? [" · ", time(clip.completed_at)] : null),
    clipClockNote(clip),
    clip.sha256 ? sha256Block(clip, name, announce) : null,
    clip.retain_until && clip.status === "complete"
      ? h("p.hint", t("The agency deletes it after "), time(clip.retain_until), t(" unless it is held as evidence.")) : null,
    clip.accesses && clip.accesses.length
      ? h("details.accesses",
        h("summary", tn("Opened by police %(count)s time", "Opened by police %(count)s times", clip.accesses.length)),
        h("ul.plain", clip.accesses.map((a) => h("li", accessText(a)))))
      : h("p.hint", t("Not opened by police yet.")));
}

export default {
  title: N_("Request for footage"),
  async render(ctx) {
    const id = ctx.params.id;
    if (!/^\d+$/.test(id)) {
      return h("section", h("h1", t("Request not found")), h("p", h("a", { href: "#/inbox" }, t("Back to your inbox"))));
    }
    const [answer, clipsAnswer, rulesAnswer] = await Promise.all([
      get(`/api/asks/${id}`), get(`/api/asks/${id}/clips`), askRules()]);
    if (answer.ok && !rulesAnswer.ok) {
      return h("section", h("h1", t("Request for footage")),
        errorCard(rulesAnswer.error, () => ctx.navigate(`/asks/${id}`)));
    }
    if (!answer.ok) {
      return h("section",
        h("h1", answer.status === 404 ? t("Request not found") : t("Request for footage")),
        answer.status === 404
          ? h("p", t("There is no request for footage with this number in your account."))
          : errorCard(answer.error, () => ctx.navigate(`/asks/${id}`)),
        h("p", h("a", { href: "#/inbox" }, t("Back to your inbox"))));
    }
    const rules = rulesAnswer.data;
    const config = await appConfig();
    const containers = config.ok && config.data.uploads ? config.data.uploads.containers : [];
    let ask = answer.data;
    let clips = clipsAnswer.ok ? clipsAnswer.data : [];
    let panel = null;

    const heading = h("h1", t("%(agency)s asks for footage", { agency: ask.agency_name }));
    const body = h("div");
    const clipList = h("ul.cards.clips");
    const clipSection = h("section.clip-section", { "aria-labelledby": "clips-title" },
      h("h2", { id: "clips-title" }, t("Clips you shared")), clipList);

    function drawClips() {
      clipSection.hidden = clips.length === 0;
      clipList.replaceChildren(...clips.map((clip) => clipItem(clip, ctx.announce)));
    }

    async function reloadClips() {
      const fresh = await get(`/api/asks/${id}/clips`);
      if (fresh.ok) {
        clips = fresh.data;
        drawClips();
        const again = await get(`/api/asks/${id}`);
        if (again.ok && again.data.state !== ask.state) {
          ask = again.data;
          draw(false);
        }
      }
      return clips;
    }

    const alert = h("div.alert", { role: "alert", tabindex: "-1", hidden: true });

    function showAlert(text) {
      alert.replaceChildren(h("p", text));
      alert.hidden = false;
      alert.focus();
    }

    async function respond(action, body = undefined) {
      alert.hidden = true;
      const buttons = Array.from(main.querySelectorAll(".answer button"));
      buttons.forEach((b) => { b.disabled = true; });
      const result = await post(`/api/asks/${id}/${ANSWERS[action].path}`, body);
      buttons.forEach((b) => { b.disabled = false; });
      if (!ctx.current) {
        return null;
      }
      if (!result.ok) {
        if (result.error.fields) {
          return result;
        }
        const fresh = await get(`/api/asks/${id}`);
        if (fresh.ok) {
          ask = fresh.data;
          draw(false);
        }
        showAlert(result.error.message);
        return null;
      }
      ask = result.data;
      ctx.announce(ANSWERS[action].done);
      draw(true);
      return result;
    }

    function declineForm() {
      const reason = h("textarea", { id: "decline-reason", name: "reason", maxLength: 500, rows: 3,
        "aria-describedby": "decline-reason-hint decline-reason-error" });
      const form = h("form.decline-form", { novalidate: true, hidden: true },
        h("p.form-error", { tabindex: "-1", hidden: true, role: "alert" }),
        h("div.field",
          h("label", { for: "decline-reason" }, t("Reason"), h("span.optional", t(" (optional)"))),
          h("p.hint", { id: "decline-reason-hint" }, t("Only you see it. The officer only learns how many owners declined.")),
          reason,
          h("p.field-error", { id: "decline-reason-error", hidden: true })),
        h("div.actions",
          h("button.danger", { type: "submit" }, t("Decline request")),
          h("button", { type: "button", onclick: () => { form.hidden = true; opener.hidden = false; opener.focus(); } },
            t("Back"))));
      const opener = h("button", { type: "button", onclick: () => {
        form.hidden = false;
        opener.hidden = true;
        reason.focus();
      } }, ANSWERS.decline.label);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        setBusy(form, true);
        const text = reason.value.trim();
        const result = await respond("decline", text ? { reason: text } : {});
        setBusy(form, false);
        if (result && !result.ok) {
          showErrors(form, result.error);
        }
      });
      return { opener, form };
    }

    // The answers the ask still takes (ask.actions), in the order of ANSWERS.
    function answerSection() {
      const offered = Object.keys(ANSWERS).filter((action) => ask.actions.includes(action));
      const decline = offered.includes("decline") ? declineForm() : null;
      const button = (action) => (action === "decline" ? decline.opener
        : h(action === "approve" ? "button.primary" : "button", { type: "button", onclick: () => respond(action) },
          ANSWERS[action].label));
      return h("section.answer", { "aria-labelledby": "answer-title" },
        h("h2", { id: "answer-title" }, t("Your answer")),
        h("p", t("You decide. If you approve, you choose which clip to send. Officers never learn who declined.")),
        h("div.actions.answer-buttons", offered.map(button)),
        decline ? decline.form : null);
    }

    function uploadSection() {
      if (panel) {
        panel.cleanup();
      }
      panel = uploadPanel({
        resumeKey: `ask-${ask.id}`,
        endpoint: "/api/uploads",
        metadata: { ask_id: String(ask.id) },
        containers,
        recorderOffset: ask.recorder_window ? ask.recorder_window.offset_s : null,
        onDelivered: reloadClips,
      });
      return h("section.upload-section", { "aria-labelledby": "upload-title" },
        h("h2", { id: "upload-title", tabindex: "-1" }, clips.length ? t("Upload another clip") : t("Upload your clip")),
        h("p", t("Send the part of your recording that covers "), h("strong", formatWindow(ask.window_start, ask.window_end)),
          ask.recorder_window ? [" (", h("strong", formatWindow(ask.recorder_window.start, ask.recorder_window.end)),
            t(" on your recorder’s clock)")] : null,
          t(". The server computes each clip’s SHA-256 fingerprint, which you and the officer both see.")),
        panel.node);
    }

    function draw(moveFocus) {
      heading.textContent = t("%(agency)s asks for footage", { agency: ask.agency_name });
      const canAnswer = ask.actions && ask.actions.length && !closed(ask);
      const canUpload = rules.takesClips(ask.state) && !closed(ask);
      const summary = outcomeParagraph(ask, closed(ask));
      replace(body,
        h("p.meta.ask-state", statePill(ask.state), " ", ask.incident_type),
        summary ? h("div", { class: rules.takesClips(ask.state) ? "success" : "card" }, summary) : null,
        alert,
        overwriteReminder(ask, rules),
        // Once approved, the clip is the owner's next step: it comes first.
        canUpload ? uploadSection() : null,
        canUpload ? clipSection : null,
        h("h2", t("What the officer wrote")),
        h("blockquote.summary", ask.summary),
        facts(ask, rules),
        canAnswer ? answerSection() : null,
        canUpload ? null : clipSection,
        h("p", h("a", { href: "#/inbox" }, t("Back to your inbox"))));
      drawClips();
      if (moveFocus) {
        const target = body.querySelector("#upload-title") || heading;
        target.setAttribute("tabindex", "-1");
        target.focus();
      }
    }

    const main = h("section.ask", heading, body);
    draw(false);
    return {
      node: main,
      cleanup() {
        if (panel) {
          panel.cleanup();
        }
      },
    };
  },
};
