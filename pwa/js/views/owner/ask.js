// One request for footage: what the officer asks, the owner's answer, and — once
// approved — the clip upload (tus, see upload.js) with each delivered clip's SHA-256.

import { get, post } from "../../api.js";
import { askRules } from "../../config.js";
import { setBusy, showErrors } from "../../forms.js";
import { uploadPanel } from "../../upload.js";
import {
  errorCard, formatBytes, formatDistance, formatWindow, h, pill, relativeTime, replace, time,
} from "../../ui.js";
import { ANSWERS, clipStatusText, outcomeParagraph, sha256Block } from "./common.js";

function closed(ask) {
  return Boolean(ask.deadline) && new Date(ask.deadline).getTime() <= Date.now();
}

function facts(ask, rules) {
  return h("dl.card.ask-facts",
    h("dt", "Case number"), h("dd", ask.case_number),
    h("dt", "Incident"), h("dd", ask.incident_type),
    h("dt", "Time asked for"), h("dd", formatWindow(ask.window_start, ask.window_end)),
    h("dt", "Your camera"), h("dd", ask.camera_id
      ? h("a", { href: `#/cameras/${ask.camera_id}` }, ask.camera_label) : ask.camera_label),
    h("dt", "Distance"), h("dd", `${formatDistance(ask.distance_m)} from the incident`),
    ask.deadline ? [h("dt", closed(ask) ? "Closed" : "Answer by"),
      h("dd", time(ask.deadline), closed(ask) ? null : ` (${relativeTime(ask.deadline)})`)] : null,
    h("dt", "Asked"), h("dd", time(ask.created_at)),
    rules.isOpen(ask.state) && ask.reply_code
      ? [h("dt", "Text reply code"), h("dd.code", ask.reply_code)] : null);
}

function accessText(access) {
  const who = access.accessor_role === "supervisor" ? "A supervisor" : access.accessor_role === "officer"
    ? "An officer" : "Agency staff";
  const did = access.action === "download" ? "downloaded it" : "played it";
  return [time(access.accessed_at), ` — ${who} of ${access.agency_name} ${did}`];
}

function clipItem(clip, announce) {
  const name = clip.filename || `Clip ${clip.id}`;
  return h("li.clip", { dataset: { clipId: String(clip.id), status: clip.status } },
    h("h3", name),
    h("p.meta", `${formatBytes(clip.size)} · ${clipStatusText(clip)}`,
      clip.completed_at ? [" · ", time(clip.completed_at)] : null),
    clip.sha256 ? sha256Block(clip, name, announce) : null,
    clip.retain_until && clip.status === "complete"
      ? h("p.hint", "The agency deletes it after ", time(clip.retain_until), " unless it is held as evidence.") : null,
    clip.accesses && clip.accesses.length
      ? h("details.accesses",
        h("summary", `Opened by police ${clip.accesses.length} ${clip.accesses.length === 1 ? "time" : "times"}`),
        h("ul.plain", clip.accesses.map((a) => h("li", accessText(a)))))
      : h("p.hint", "Not opened by police yet."));
}

export default {
  title: "Request for footage",
  async render(ctx) {
    const id = ctx.params.id;
    if (!/^\d+$/.test(id)) {
      return h("section", h("h1", "Request not found"), h("p", h("a", { href: "#/inbox" }, "Back to your inbox")));
    }
    const [answer, clipsAnswer, rulesAnswer] = await Promise.all([
      get(`/api/asks/${id}`), get(`/api/asks/${id}/clips`), askRules()]);
    if (answer.ok && !rulesAnswer.ok) {
      return h("section", h("h1", "Request for footage"),
        errorCard(rulesAnswer.error, () => ctx.navigate(`/asks/${id}`)));
    }
    if (!answer.ok) {
      return h("section",
        h("h1", answer.status === 404 ? "Request not found" : "Request for footage"),
        answer.status === 404
          ? h("p", "There is no request for footage with this number in your account.")
          : errorCard(answer.error, () => ctx.navigate(`/asks/${id}`)),
        h("p", h("a", { href: "#/inbox" }, "Back to your inbox")));
    }
    const rules = rulesAnswer.data;
    let ask = answer.data;
    let clips = clipsAnswer.ok ? clipsAnswer.data : [];
    let panel = null;

    const heading = h("h1", `${ask.agency_name} asks for footage`);
    const body = h("div");
    const clipList = h("ul.cards.clips");
    const clipSection = h("section.clip-section", { "aria-labelledby": "clips-title" },
      h("h2", { id: "clips-title" }, "Clips you shared"), clipList);

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
          h("label", { for: "decline-reason" }, "Reason", h("span.optional", " (optional)")),
          h("p.hint", { id: "decline-reason-hint" }, "Only you see it. The officer only learns how many owners declined."),
          reason,
          h("p.field-error", { id: "decline-reason-error", hidden: true })),
        h("div.actions",
          h("button.danger", { type: "submit" }, "Decline request"),
          h("button", { type: "button", onclick: () => { form.hidden = true; opener.hidden = false; opener.focus(); } },
            "Back")));
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
        h("h2", { id: "answer-title" }, "Your answer"),
        h("p", "You decide. If you approve, you choose which clip to send. Officers never learn who declined."),
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
        onDelivered: reloadClips,
      });
      return h("section.upload-section", { "aria-labelledby": "upload-title" },
        h("h2", { id: "upload-title", tabindex: "-1" }, clips.length ? "Upload another clip" : "Upload your clip"),
        h("p", "Send the part of your recording that covers ", h("strong", formatWindow(ask.window_start, ask.window_end)),
          ". The server computes each clip’s SHA-256 fingerprint, which you and the officer both see."),
        panel.node);
    }

    function draw(moveFocus) {
      heading.textContent = `${ask.agency_name} asks for footage`;
      const canAnswer = ask.actions && ask.actions.length && !closed(ask);
      const canUpload = rules.takesClips(ask.state) && !closed(ask);
      const summary = outcomeParagraph(ask, closed(ask));
      replace(body,
        h("p.meta.ask-state", pill(ask.state), " ", ask.incident_type),
        summary ? h("div", { class: rules.takesClips(ask.state) ? "success" : "card" }, summary) : null,
        alert,
        // Once approved, the clip is the owner's next step: it comes first.
        canUpload ? uploadSection() : null,
        canUpload ? clipSection : null,
        h("h2", "What the officer wrote"),
        h("blockquote.summary", ask.summary),
        facts(ask, rules),
        canAnswer ? answerSection() : null,
        canUpload ? null : clipSection,
        h("p", h("a", { href: "#/inbox" }, "Back to your inbox")));
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
