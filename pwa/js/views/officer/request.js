// One footage request: its status, counts per outcome (never which owner), the clips
// arriving live — each playable (its working copy), with the master's SHA-256, its
// download and a link to the clip's own page (views/officer/clip.js) —, cancelling, and
// for supervisors the evidence holds that keep the clips past retention.
//
// Videos use preload="none": every byte range fetched is recorded as a view that the
// owner sees, so nothing is fetched until the officer presses play.

import { get, post } from "../../api.js";
import { askRules } from "../../config.js";
import { clearErrors, setBusy, showErrors } from "../../forms.js";
import { createMap } from "../../map.js";
import { poll } from "../../timing.js";
import {
  confirmInPlace, errorCard, field, formError, formatBytes, formatDateTime, formatWindow, h, pill, relativeTime,
  replace, time,
} from "../../ui.js";
import {
  STATUS_WORDS, agencyPolicy, countsList, countsSentence, exceededText, formatCoordinates, formatMetres,
  legalBasisText,
} from "./common.js";
import { N_, t, withElements } from "../../i18n.js";

const POLL_MS = 4000;
const OPEN = ["pending_approval", "active"];

function statusSentence(request) {
  switch (request.status) {
    case "pending_approval":
      return t("Over your agency's limits: it waits for a supervisor's approval. No owner has been asked yet.");
    case "active":
      return request.expires_at
        ? t("Owners are being asked. The request closes %(relative)s (%(when)s).",
          { relative: relativeTime(request.expires_at), when: formatDateTime(request.expires_at) })
        : t("Owners are being asked.");
    case "rejected":
      return t("A supervisor rejected this request; no owner was asked.");
    case "cancelled":
      return t("Cancelled %(when)s. Owners who had not answered are no longer asked.",
        { when: formatDateTime(request.closed_at) });
    case "expired":
      return t("Expired %(when)s. Unanswered asks closed with it.", { when: formatDateTime(request.closed_at) });
    default:
      return "";
  }
}

export default {
  title: N_("Request"),
  async render(ctx) {
    const id = ctx.params.id;
    if (!/^\d+$/.test(id)) {
      return notFound();
    }
    const [first, firstClips, policy, rulesAnswer] = await Promise.all([
      get(`/api/requests/${id}`), get(`/api/requests/${id}/clips`), agencyPolicy(), askRules()]);
    if (first.status === 404) {
      return notFound();
    }
    if (!first.ok || !rulesAnswer.ok) {
      return h("section", h("h1", t("Request")),
        errorCard((first.ok ? rulesAnswer : first).error, () => ctx.navigate(`/officer/requests/${id}`)));
    }
    const rules = rulesAnswer.data;
    let request = first.data;
    const supervisor = ctx.user.role === "supervisor";
    let closed = false;
    let map = null;
    let firstDraw = true; // no "new clip" announcement for the clips already there

    // --- header, status and counts ------------------------------------------------------------

    const heading = h("h1", t("Case %(case_number)s", { case_number: request.case_number }));
    const statusLine = h("p.request-status");
    const countsBox = h("div.request-counts");
    const countsNote = h("p.hint", t("Counts only: Porchlight never tells officers who approved, declined or did not answer."));

    function drawStatus() {
      replace(statusLine, pill(request.status), " ", STATUS_WORDS[request.status] || request.status, ". ",
        statusSentence(request),
        supervisor && request.status === "pending_approval"
          ? [" ", h("a", { href: "#/officer/approvals" }, t("Review it in the approval queue")), "."] : null);
      replace(countsBox, countsList(request, rules));
      countsBox.dataset.total = String(request.asks_total || 0);
      drawDetails();
      drawCancel();
    }

    // --- details ---------------------------------------------------------------------------------

    const details = h("dl.card.stacked.request-details");
    function drawDetails() {
      const rows = [
        [t("Incident type"), request.incident_type],
        [t("Offense category"), request.offense_category_label],
        [t("Legal basis"), legalBasisText(request)],
        request.prohibited_purposes_affirmed ? [t("Affirmed"), t("No prohibited purpose applies (%(count)s listed), %(when)s",
          { count: request.prohibited_purposes_affirmed.length, when: formatDateTime(request.affirmed_at) })] : null,
        [t("Summary (owners read this)"), request.summary],
        [t("Location"), formatCoordinates(request.latitude, request.longitude)],
        [t("Radius"), formatMetres(request.radius_m)],
        [t("Time window"), formatWindow(request.window_start, request.window_end)],
        [t("Created"), time(request.created_at)],
        request.activated_at ? [t("Sent to owners"), time(request.activated_at)] : null,
        request.expires_at ? [t("Closes"), time(request.expires_at)] : null,
        request.exceeded_limits?.length ? [t("Over the limits"), exceededText(request, policy).join("; ")] : null,
        request.justification ? [t("Justification"), request.justification] : null,
        request.reviewed_at ? [request.status === "rejected" ? t("Rejected")
          : request.self_approved ? t("Self-approved (by the supervisor who made it)") : t("Approved by a supervisor"),
        [time(request.reviewed_at), request.review_reason ? `: ${request.review_reason}` : ""]] : null,
      ].filter(Boolean);
      replace(details, rows.map(([term, value]) => [h("dt", term), h("dd", value)]));
    }

    // --- clips -----------------------------------------------------------------------------------

    const clipItems = new Map(); // clip id → {li, signature}
    const clipList = h("ul.cards.clip-list", { "aria-label": t("Clips") });
    const clipsEmpty = h("p.empty", t("No clips yet. They appear here by themselves as owners upload them."));

    function clipSignature(clip) {
      const media = clip.media ? clip.media.status : "";
      return `${clip.status}|${clip.received}|${clip.held}|${clip.retain_until}|${media}`;
    }

    // What the card plays: the working copy once made (an H.264 MP4 any browser plays);
    // before working copies existed (no media state), the master itself.
    function clipPlayer(clip, titleId) {
      const media = clip.media || {};
      if (clip.working_copy) {
        return h("video", { controls: true, preload: "none", playsInline: true, src: clip.working_copy.content_url,
          poster: clip.poster_url || undefined, "aria-labelledby": titleId });
      }
      if (media.status === "pending" || media.status === "processing") {
        return h("p.making-copy", t("Making a playable copy from the master…"));
      }
      if (media.status === "failed") {
        return h("p.copy-failed", t("No playable copy could be made: "), media.error || "",
          t(" The master can still be downloaded."));
      }
      return h("video", { controls: true, preload: "none", playsInline: true, src: clip.content_url,
        "aria-labelledby": titleId });
    }

    function clipItem(clip, number) {
      const titleId = `clip-${clip.id}-title`;
      const title = h("h3", { id: titleId }, t("Clip %(number)s", { number }));
      const li = h("li.clip", { dataset: { clipId: String(clip.id), status: clip.status } }, title);
      if (clip.status === "complete") {
        li.append(
          clipPlayer(clip, titleId),
          h("dl.clip-facts",
            h("dt", "SHA-256"), h("dd", h("code.sha256", { dataset: { sha256: clip.sha256 || "" } }, clip.sha256 || "")),
            h("dt", t("Size")), h("dd", formatBytes(clip.size), clip.container ? ` · ${clip.container}` : ""),
            h("dt", t("Received")), h("dd", clip.completed_at ? time(clip.completed_at) : ""),
            h("dt", t("Kept until")), h("dd.kept", keptText(clip))),
          h("div.actions",
            h("a.button", { href: clip.download_url, download: "" }, t("Download the master"),
              h("span.visually-hidden", t(" of clip %(number)s", { number }))),
            h("a.button", { href: `#/officer/clips/${clip.id}` }, t("Open clip"),
              h("span.visually-hidden", ` ${number}`), t(": hashes, facts, recorder clock"))),
          h("p.hint", t("Check a download against the SHA-256 above. Every play and download is recorded, " +
            "and the owner can see it.")));
      } else if (clip.status === "uploading") {
        const percent = clip.size ? Math.floor((clip.received / clip.size) * 100) : 0;
        li.append(
          h("p", t("Arriving from the owner’s device…")),
          h("progress", { max: clip.size || 1, value: clip.received || 0, "aria-labelledby": titleId }),
          h("p.meta", t("%(received)s of %(size)s (%(percent)s)",
            { received: formatBytes(clip.received || 0), size: formatBytes(clip.size || 0), percent: `${percent}%` })));
      } else {
        li.append(h("p.meta", t("Purged %(when)s when the agency’s retention ended.",
          { when: formatDateTime(clip.purged_at) })));
      }
      return li;
    }

    function keptText(clip) {
      return clip.held ? t("Kept under an evidence hold") : clip.retain_until ? time(clip.retain_until) : "";
    }

    function drawClips(clips) {
      const ordered = [...clips].sort((a, b) => a.id - b.id);
      let arrived = 0;
      ordered.forEach((clip, index) => {
        const signature = clipSignature(clip);
        const known = clipItems.get(clip.id);
        if (known && known.signature === signature) {
          return;
        }
        if (known && known.status === "complete" && clip.status === "complete" && known.media === clip.media?.status) {
          // Only the hold or retention changed: never redraw a video the officer may be playing.
          const kept = known.li.querySelector("dd.kept");
          if (kept) {
            replace(kept, keptText(clip));
          }
          known.signature = signature;
          return;
        }
        if (clip.status === "complete" && !firstDraw) {
          arrived += 1;
        }
        const li = clipItem(clip, index + 1);
        if (known) {
          known.li.replaceWith(li);
        } else {
          clipList.append(li);
        }
        clipItems.set(clip.id, { li, signature, status: clip.status, media: clip.media?.status });
      });
      clipsEmpty.hidden = ordered.length > 0;
      if (arrived) {
        ctx.announce(arrived === 1 ? t("A new clip arrived.") : t("%(arrived)s new clips arrived.", { arrived }));
      }
    }

    // --- cancel ----------------------------------------------------------------------------------

    const cancelBox = h("div.cancel-box");
    let cancelControl = null; // kept while the request may be cancelled: a refresh leaves a question open
    function drawCancel() {
      const mayCancel = OPEN.includes(request.status) && (supervisor || request.officer_id === ctx.user.id);
      if (!mayCancel) {
        cancelControl = null;
        replace(cancelBox);
        return;
      }
      if (cancelControl) {
        return;
      }
      cancelControl = confirmInPlace({
        className: "cancel-request",
        label: t("Cancel this request"),
        startClass: "danger",
        question: t("Cancel this request? Owners who have not answered will no longer be asked. This cannot be undone."),
        groupLabel: t("Confirm cancelling"),
        yes: t("Yes, cancel the request"),
        no: t("Keep it"),
        act: () => post(`/api/requests/${request.id}/cancel`),
        onDone: (answer) => {
          request = answer.data;
          drawStatus();
          ctx.announce(t("Request cancelled."));
          heading.focus();
        },
      });
      replace(cancelBox, h("h2", t("Cancel")), h("p", t("Withdraw the request if the footage is no longer needed.")),
        cancelControl);
    }

    // --- evidence holds --------------------------------------------------------------------------

    const holdsBox = h("div.holds");
    async function loadHolds() {
      const answer = await get(`/api/requests/${request.id}/holds`);
      if (closed) {
        return;
      }
      if (!answer.ok) {
        replace(holdsBox, errorCard(answer.error, loadHolds));
        return;
      }
      drawHolds(answer.data);
    }

    // A supervisor's form that sends a reason to `url` (placing or releasing a hold), then redraws.
    function holdReasonForm({ id, label, hint, button, buttonClass = "button", url, missing, done }) {
      const reason = h("textarea", { id, name: "reason", rows: 2, maxLength: 1000, required: true });
      const form = h("form", { novalidate: true }, formError(), field(label, reason, { hint }),
        h(buttonClass, { type: "submit" }, button));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(form);
        if (!reason.value.trim()) {
          showErrors(form, { message: t("Please check the fields marked below."), fields: { reason: [missing] } });
          return;
        }
        setBusy(form, true);
        const answer = await post(url, { reason: reason.value.trim() });
        setBusy(form, false);
        if (closed) {
          return;
        }
        if (!answer.ok) {
          showErrors(form, answer.error);
          return;
        }
        ctx.announce(done);
        await loadHolds();
        refresh();
      });
      return form;
    }

    function holdItem(hold) {
      const li = h("li", { dataset: { holdId: String(hold.id), active: String(hold.active) } },
        h("p", hold.active ? pill("active") : pill("released"), " ",
          withElements(t("Placed %(when)s"), { when: time(hold.placed_at) })),
        h("p", h("strong", t("Reason:")), " ", hold.reason),
        hold.active ? null : h("p.meta", withElements(hold.release_reason
          ? t("Released %(when)s: %(reason)s", { reason: hold.release_reason }) : t("Released %(when)s"),
        { when: time(hold.released_at) })));
      if (hold.active && supervisor) {
        const form = holdReasonForm({
          id: `release-${hold.id}-reason`, label: t("Why release it"), buttonClass: "button.danger",
          hint: t("Clips past the agency's retention are purged once released."), button: t("Release the hold"),
          url: `/api/holds/${hold.id}/release`, missing: t("Give the reason for releasing the hold."),
          done: t("Evidence hold released."),
        });
        li.append(h("details", h("summary", t("Release this hold")), form));
      }
      return li;
    }

    function drawHolds(holds) {
      const parts = [h("h2", t("Evidence holds")),
        h("p.hint", t("A hold keeps this request's clips past the agency's retention period until it is released."))];
      parts.push(holds.length
        ? h("ul.cards.hold-list", { "aria-label": t("Evidence holds") }, holds.map(holdItem))
        : h("p.empty", t("No evidence hold on this request.")));
      if (supervisor) {
        const form = holdReasonForm({
          id: "hold-reason", label: t("Reason for a new hold"), button: t("Place an evidence hold"),
          hint: t("For example the case or court order that needs the clips kept."),
          url: `/api/requests/${request.id}/holds`, missing: t("Give the reason for the hold."),
          done: t("Evidence hold placed."),
        });
        form.classList.add("hold-form");
        parts.push(form);
      } else if (!holds.some((hold) => hold.active)) {
        parts.push(h("p.hint", t("A supervisor can place a hold.")));
      }
      replace(holdsBox, parts);
    }

    // --- live updates ----------------------------------------------------------------------------

    let lastCounts = countsSentence(request, rules);
    async function refresh(options) {
      const [answer, clips] = await Promise.all([get(`/api/requests/${id}`, options),
        get(`/api/requests/${id}/clips`, options)]);
      if (closed || !ctx.current) {
        return;
      }
      if (answer.ok) {
        const before = request.status;
        request = answer.data;
        const sentence = countsSentence(request, rules);
        if (sentence !== lastCounts || before !== request.status) {
          drawStatus();
          if (sentence !== lastCounts) {
            ctx.announce(t("Responses updated: %(sentence)s.", { sentence }));
          }
          lastCounts = sentence;
        }
      }
      if (clips.ok) {
        drawClips(clips.data);
      }
    }

    drawStatus();
    if (firstClips.ok) {
      drawClips(firstClips.data);
    }
    firstDraw = false;
    loadHolds();
    const stop = poll(refresh, POLL_MS);

    const mapBox = h("div.map.map-officer.map-small", { role: "region", "aria-label":
      t("Map of the request area: %(radius)s around %(point)s",
        { radius: formatMetres(request.radius_m), point: formatCoordinates(request.latitude, request.longitude) }) });
    createMap(mapBox, { center: [request.latitude, request.longitude], zoom: 16 }).then((controller) => {
      if (closed) {
        controller?.remove();
        return;
      }
      map = controller;
      if (map) {
        map.pin(request.latitude, request.longitude, { label: t("Incident point") });
        const circle = map.circle(request.latitude, request.longitude, request.radius_m);
        map.map.fitBounds(circle.getBounds(), { padding: [12, 12], animate: false });
      }
    });

    const node = h("section.officer.request-page", { dataset: { requestId: String(request.id) } },
      h("p.back", h("a", { href: "#/officer/requests" }, t("← All requests"))),
      heading,
      statusLine,
      h("h2", t("Responses")),
      countsBox,
      countsNote,
      h("h2", t("Clips")),
      clipsEmpty,
      clipList,
      firstClips.ok ? null : errorCard(firstClips.error),
      h("h2", t("Details")),
      details,
      mapBox,
      holdsBox,
      cancelBox);
    return {
      node,
      cleanup() {
        closed = true;
        stop();
        if (map) {
          map.remove();
          map = null;
        }
      },
    };
  },
};

function notFound() {
  return h("section",
    h("h1", t("Request not found")),
    h("p", t("There is no such request in your agency.")),
    h("p", h("a.button", { href: "#/officer/requests" }, t("All requests"))));
}
