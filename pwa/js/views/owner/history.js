// Everything the owner was asked and answered, each clip they shared with its SHA-256,
// and every time police opened one (each view and download is logged; see
// GET /api/me/clip-accesses).

import { get } from "../../api.js";
import { askRules } from "../../config.js";
import { errorCard, formatWindow, h, pill, time } from "../../ui.js";
import { answerText, historyClip, viaText } from "./common.js";

function askItem(ask, clips, announce) {
  const shared = clips.filter((clip) => clip.sha256);
  return h("li.history-ask", { dataset: { askId: String(ask.id) } },
    h("h3", h("a", { href: `#/asks/${ask.id}` }, `${ask.agency_name}: case ${ask.case_number}`)),
    h("p.meta", pill(ask.state), ` ${ask.incident_type} · ${ask.camera_label}`),
    h("p", `${answerText(ask)}`,
      ask.responded_at ? [" on ", time(ask.responded_at)] : null,
      ask.answered_via ? ` ${viaText(ask.answered_via)}` : null, "."),
    ask.decline_reason ? h("p.hint", `Your reason: “${ask.decline_reason}”`) : null,
    h("p.hint", "Asked ", time(ask.created_at), " for ", formatWindow(ask.window_start, ask.window_end), "."),
    shared.length ? h("ul.plain.history-clips", { "aria-label": `Clips you shared for case ${ask.case_number}` },
      shared.map((clip) => historyClip(clip, announce))) : null);
}

function accessItem(access, asks) {
  const ask = asks.get(access.ask_id);
  const who = access.accessor_role === "supervisor" ? "A supervisor" : access.accessor_role === "officer"
    ? "An officer" : "Agency staff";
  const what = access.action === "download" ? "downloaded" : "played";
  return h("li.history-access", { dataset: { accessId: String(access.id) } },
    h("p", h("strong", `${who} of ${access.agency_name} ${what} clip ${access.clip_id}`)),
    h("p.meta", time(access.accessed_at), " · ",
      h("a", { href: `#/asks/${access.ask_id}` }, ask ? `case ${ask.case_number}` : "the request"),
      access.byte_range ? ` · bytes ${access.byte_range}` : null));
}

// Every page of a list paged by id (newest first): the history is complete however long it is.
async function getAll(path, pageSize = 500) {
  let answer = await get(`${path}?limit=${pageSize}`);
  const items = answer.ok ? [...answer.data] : [];
  while (answer.ok && answer.data.length === pageSize) {
    answer = await get(`${path}?limit=${pageSize}&before_id=${items[items.length - 1].id}`);
    if (answer.ok) {
      items.push(...answer.data);
    }
  }
  return answer.ok ? { ...answer, data: items } : answer;
}

// The clips of every ask that can have them (ask id → clips), or the first failed answer.
async function clipsOf(asks, rules) {
  const withClips = asks.filter((ask) => rules.takesClips(ask.state));
  const answers = await Promise.all(withClips.map((ask) => get(`/api/asks/${ask.id}/clips`)));
  const failed = answers.find((answer) => !answer.ok);
  return failed || { ok: true, data: new Map(withClips.map((ask, i) => [ask.id, answers[i].data])) };
}

export default {
  title: "History",
  async render(ctx) {
    const [asks, accesses, rules] = await Promise.all([
      getAll("/api/asks"), getAll("/api/me/clip-accesses"), askRules()]);
    const clips = asks.ok && rules.ok ? await clipsOf(asks.data, rules.data) : null;
    const failed = [asks, accesses, rules, clips].find((answer) => answer && !answer.ok);
    if (failed) {
      return h("section", h("h1", "Your history"), errorCard(failed.error, () => ctx.navigate("/history")));
    }
    const answered = asks.data.length;
    const byId = new Map(asks.data.map((ask) => [ask.id, ask]));
    return h("section.history",
      h("h1", "Your history"),
      h("p", "Every request made to you, what you answered, each clip you shared with its SHA-256 fingerprint, "
        + "and every time police opened one. The same events are in the agency’s tamper-evident audit log."),
      h("section", { "aria-labelledby": "history-access-title" },
        h("h2", { id: "history-access-title" }, "Police access to your clips"),
        accesses.data.length
          ? h("ul.cards.accesses", accesses.data.map((access) => accessItem(access, byId)))
          : h("p.empty", "No one has opened a clip of yours.")),
      h("section", { "aria-labelledby": "history-asks-title" },
        h("h2", { id: "history-asks-title" }, `Requests made to you (${answered})`),
        answered
          ? h("ul.cards.history-asks", asks.data.map((ask) => askItem(ask, clips.data.get(ask.id) || [], ctx.announce)))
          : h("p.empty", "No requests yet.")));
  },
};
