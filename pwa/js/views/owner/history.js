// Everything the owner was asked and answered, each clip they shared with its SHA-256,
// and every time police opened one (each view and download is logged; see
// GET /api/me/clip-accesses).

import { get } from "../../api.js";
import { askRules } from "../../config.js";
import { errorCard, formatWindow, h, time } from "../../ui.js";
import { answerText, historyClip, statePill, viaText } from "./common.js";
import { N_, t } from "../../i18n.js";

function askItem(ask, clips, announce) {
  const shared = clips.filter((clip) => clip.sha256);
  return h("li.history-ask", { dataset: { askId: String(ask.id) } },
    h("h3", h("a", { href: `#/asks/${ask.id}` }, t("%(agency_name)s: case %(case_number)s", { agency_name: ask.agency_name, case_number: ask.case_number }))),
    h("p.meta", statePill(ask.state), ` ${ask.incident_type} · ${ask.camera_label}`),
    h("p", `${answerText(ask)}`,
      ask.responded_at ? [" on ", time(ask.responded_at)] : null,
      ask.answered_via ? ` ${viaText(ask.answered_via)}` : null, "."),
    ask.decline_reason ? h("p.hint", t("Your reason: “%(decline_reason)s”", { decline_reason: ask.decline_reason })) : null,
    h("p.hint", t("Asked "), time(ask.created_at), " · ", t("Time asked for"), ": ", formatWindow(ask.window_start, ask.window_end)),
    shared.length ? h("ul.plain.history-clips", { "aria-label": t("Clips you shared for case %(case_number)s", { case_number: ask.case_number }) },
      shared.map((clip) => historyClip(clip, announce))) : null);
}

function accessItem(access, asks) {
  const ask = asks.get(access.ask_id);
  const who = access.accessor_role === "supervisor" ? t("A supervisor") : access.accessor_role === "officer"
    ? t("An officer") : t("Agency staff");
  // The agency plays a copy it made for browsers, and may download the original or the copy.
  const which = { working_copy: t(" (the playable copy made from it)"), poster: t(" (a still frame of it)") }[access.variant] || "";
  const vars = { who, agency: access.agency_name, clip: access.clip_id, which };
  let text = t("%(who)s of %(agency)s played clip %(clip)s%(which)s", vars);
  if (access.variant === "poster") {
    text = t("%(who)s of %(agency)s viewed clip %(clip)s%(which)s", vars);
  } else if (access.action === "download") {
    text = t("%(who)s of %(agency)s downloaded clip %(clip)s%(which)s", vars);
  }
  return h("li.history-access", { dataset: { accessId: String(access.id), variant: access.variant || "master" } },
    h("p", h("strong", text)),
    h("p.meta", time(access.accessed_at), " · ",
      h("a", { href: `#/asks/${access.ask_id}` }, ask ? t("case %(case_number)s", { case_number: ask.case_number }) : t("the request")),
      access.byte_range ? t(" · bytes %(byte_range)s", { byte_range: access.byte_range }) : null));
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
  title: N_("History"),
  async render(ctx) {
    const [asks, accesses, rules] = await Promise.all([
      getAll("/api/asks"), getAll("/api/me/clip-accesses"), askRules()]);
    const clips = asks.ok && rules.ok ? await clipsOf(asks.data, rules.data) : null;
    const failed = [asks, accesses, rules, clips].find((answer) => answer && !answer.ok);
    if (failed) {
      return h("section", h("h1", t("Your history")), errorCard(failed.error, () => ctx.navigate("/history")));
    }
    const answered = asks.data.length;
    const byId = new Map(asks.data.map((ask) => [ask.id, ask]));
    return h("section.history",
      h("h1", t("Your history")),
      h("p", t("Every request made to you, what you answered, each clip you shared with its SHA-256 fingerprint, "
        + "and every time police opened one. The same events are in the agency’s tamper-evident audit log.")),
      h("section", { "aria-labelledby": "history-access-title" },
        h("h2", { id: "history-access-title" }, t("Police access to your clips")),
        accesses.data.length
          ? h("ul.cards.accesses", accesses.data.map((access) => accessItem(access, byId)))
          : h("p.empty", t("No one has opened a clip of yours."))),
      h("section", { "aria-labelledby": "history-asks-title" },
        h("h2", { id: "history-asks-title" }, t("Requests made to you (%(answered)s)", { answered })),
        answered
          ? h("ul.cards.history-asks", asks.data.map((ask) => askItem(ask, clips.data.get(ask.id) || [], ctx.announce)))
          : h("p.empty", t("No requests yet."))));
  },
};
