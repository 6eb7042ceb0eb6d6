// One footage request: its status, counts per outcome (never which owner), the clips
// arriving live — each playable, with its SHA-256 and a download —, cancelling, and
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
} from "./common.js";

const POLL_MS = 4000;
const OPEN = ["pending_approval", "active"];

function statusSentence(request) {
  switch (request.status) {
    case "pending_approval":
      return "Over your agency's limits: it waits for a supervisor's approval. No owner has been asked yet.";
    case "active":
      return request.expires_at
        ? `Owners are being asked. The request closes ${relativeTime(request.expires_at)} (${formatDateTime(request.expires_at)}).`
        : "Owners are being asked.";
    case "rejected":
      return "A supervisor rejected this request; no owner was asked.";
    case "cancelled":
      return `Cancelled ${formatDateTime(request.closed_at)}. Owners who had not answered are no longer asked.`;
    case "expired":
      return `Expired ${formatDateTime(request.closed_at)}. Unanswered asks closed with it.`;
    default:
      return "";
  }
}

export default {
  title: "Request",
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
      return h("section", h("h1", "Request"),
        errorCard((first.ok ? rulesAnswer : first).error, () => ctx.navigate(`/officer/requests/${id}`)));
    }
    const rules = rulesAnswer.data;
    let request = first.data;
    const supervisor = ctx.user.role === "supervisor";
    let closed = false;
    let map = null;
    let firstDraw = true; // no "new clip" announcement for the clips already there

    // --- header, status and counts ------------------------------------------------------------

    const heading = h("h1", `Case ${request.case_number}`);
    const statusLine = h("p.request-status");
    const countsBox = h("div.request-counts");
    const countsNote = h("p.hint", "Counts only: Porchlight never tells officers who approved, declined or did not answer.");

    function drawStatus() {
      replace(statusLine, pill(request.status), " ", STATUS_WORDS[request.status] || request.status, ". ",
        statusSentence(request),
        supervisor && request.status === "pending_approval"
          ? [" ", h("a", { href: "#/officer/approvals" }, "Review it in the approval queue"), "."] : null);
      replace(countsBox, countsList(request, rules));
      countsBox.dataset.total = String(request.asks_total || 0);
      drawDetails();
      drawCancel();
    }

    // --- details ---------------------------------------------------------------------------------

    const details = h("dl.card.stacked.request-details");
    function drawDetails() {
      const rows = [
        ["Incident type", request.incident_type],
        ["Summary (owners read this)", request.summary],
        ["Location", formatCoordinates(request.latitude, request.longitude)],
        ["Radius", formatMetres(request.radius_m)],
        ["Time window", formatWindow(request.window_start, request.window_end)],
        ["Created", time(request.created_at)],
        request.activated_at ? ["Sent to owners", time(request.activated_at)] : null,
        request.expires_at ? ["Closes", time(request.expires_at)] : null,
        request.exceeded_limits?.length ? ["Over the limits", exceededText(request, policy).join("; ")] : null,
        request.justification ? ["Justification", request.justification] : null,
        request.reviewed_at ? [request.status === "rejected" ? "Rejected"
          : request.self_approved ? "Self-approved (by the supervisor who made it)" : "Approved by a supervisor",
        [time(request.reviewed_at), request.review_reason ? `: ${request.review_reason}` : ""]] : null,
      ].filter(Boolean);
      replace(details, rows.map(([term, value]) => [h("dt", term), h("dd", value)]));
    }

    // --- clips -----------------------------------------------------------------------------------

    const clipItems = new Map(); // clip id → {li, signature}
    const clipList = h("ul.cards.clip-list", { "aria-label": "Clips" });
    const clipsEmpty = h("p.empty", "No clips yet. They appear here by themselves as owners upload them.");

    function clipSignature(clip) {
      return `${clip.status}|${clip.received}|${clip.held}|${clip.retain_until}`;
    }

    function clipItem(clip, number) {
      const titleId = `clip-${clip.id}-title`;
      const title = h("h3", { id: titleId }, `Clip ${number}`);
      const li = h("li.clip", { dataset: { clipId: String(clip.id), status: clip.status } }, title);
      if (clip.status === "complete") {
        const video = h("video", { controls: true, preload: "none", playsInline: true, src: clip.content_url,
          "aria-labelledby": titleId });
        li.append(
          video,
          h("dl.clip-facts",
            h("dt", "SHA-256"), h("dd", h("code.sha256", { dataset: { sha256: clip.sha256 || "" } }, clip.sha256 || "")),
            h("dt", "Size"), h("dd", formatBytes(clip.size), clip.container ? ` · ${clip.container}` : ""),
            h("dt", "Received"), h("dd", clip.completed_at ? time(clip.completed_at) : ""),
            h("dt", "Kept until"), h("dd.kept", keptText(clip))),
          h("div.actions",
            h("a.button", { href: clip.download_url, download: "" }, "Download clip",
              h("span.visually-hidden", ` ${number}`))),
          h("p.hint", "Check a download against the SHA-256 above. Every play and download is recorded, ",
            "and the owner can see it."));
      } else if (clip.status === "uploading") {
        const percent = clip.size ? Math.floor((clip.received / clip.size) * 100) : 0;
        li.append(
          h("p", "Arriving from the owner’s device…"),
          h("progress", { max: clip.size || 1, value: clip.received || 0, "aria-labelledby": titleId }),
          h("p.meta", `${formatBytes(clip.received || 0)} of ${formatBytes(clip.size || 0)} (${percent}%)`));
      } else {
        li.append(h("p.meta", `Purged ${formatDateTime(clip.purged_at)} when the agency’s retention ended.`));
      }
      return li;
    }

    function keptText(clip) {
      return clip.held ? "Kept under an evidence hold" : clip.retain_until ? time(clip.retain_until) : "";
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
        if (known && known.status === "complete" && clip.status === "complete") {
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
        clipItems.set(clip.id, { li, signature, status: clip.status });
      });
      clipsEmpty.hidden = ordered.length > 0;
      if (arrived) {
        ctx.announce(arrived === 1 ? "A new clip arrived." : `${arrived} new clips arrived.`);
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
        label: "Cancel this request",
        startClass: "danger",
        question: "Cancel this request? Owners who have not answered will no longer be asked. This cannot be undone.",
        groupLabel: "Confirm cancelling",
        yes: "Yes, cancel the request",
        no: "Keep it",
        act: () => post(`/api/requests/${request.id}/cancel`),
        onDone: (answer) => {
          request = answer.data;
          drawStatus();
          ctx.announce("Request cancelled.");
          heading.focus();
        },
      });
      replace(cancelBox, h("h2", "Cancel"), h("p", "Withdraw the request if the footage is no longer needed."),
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
          showErrors(form, { message: "Please check the fields marked below.", fields: { reason: [missing] } });
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
        h("p", hold.active ? pill("active") : pill("released"), " ", "Placed ", time(hold.placed_at)),
        h("p", h("strong", "Reason: "), hold.reason),
        hold.active ? null : h("p.meta", "Released ", time(hold.released_at),
          hold.release_reason ? `: ${hold.release_reason}` : ""));
      if (hold.active && supervisor) {
        const form = holdReasonForm({
          id: `release-${hold.id}-reason`, label: "Why release it", buttonClass: "button.danger",
          hint: "Clips past the agency's retention are purged once released.", button: "Release the hold",
          url: `/api/holds/${hold.id}/release`, missing: "Give the reason for releasing the hold.",
          done: "Evidence hold released.",
        });
        li.append(h("details", h("summary", "Release this hold"), form));
      }
      return li;
    }

    function drawHolds(holds) {
      const parts = [h("h2", "Evidence holds"),
        h("p.hint", "A hold keeps this request's clips past the agency's retention period until it is released.")];
      parts.push(holds.length
        ? h("ul.cards.hold-list", { "aria-label": "Evidence holds" }, holds.map(holdItem))
        : h("p.empty", "No evidence hold on this request."));
      if (supervisor) {
        const form = holdReasonForm({
          id: "hold-reason", label: "Reason for a new hold", button: "Place an evidence hold",
          hint: "For example the case or court order that needs the clips kept.",
          url: `/api/requests/${request.id}/holds`, missing: "Give the reason for the hold.",
          done: "Evidence hold placed.",
        });
        form.classList.add("hold-form");
        parts.push(form);
      } else if (!holds.some((hold) => hold.active)) {
        parts.push(h("p.hint", "A supervisor can place a hold."));
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
            ctx.announce(`Responses updated: ${sentence}.`);
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
      `Map of the request area: ${formatMetres(request.radius_m)} around ${formatCoordinates(request.latitude, request.longitude)}` });
    createMap(mapBox, { center: [request.latitude, request.longitude], zoom: 16 }).then((controller) => {
      if (closed) {
        controller?.remove();
        return;
      }
      map = controller;
      if (map) {
        map.pin(request.latitude, request.longitude, { label: "Incident point" });
        const circle = map.circle(request.latitude, request.longitude, request.radius_m);
        map.map.fitBounds(circle.getBounds(), { padding: [12, 12] });
      }
    });

    const node = h("section.officer.request-page", { dataset: { requestId: String(request.id) } },
      h("p.back", h("a", { href: "#/officer/requests" }, "← All requests")),
      heading,
      statusLine,
      h("h2", "Responses"),
      countsBox,
      countsNote,
      h("h2", "Clips"),
      clipsEmpty,
      clipList,
      firstClips.ok ? null : errorCard(firstClips.error),
      h("h2", "Details"),
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
    h("h1", "Request not found"),
    h("p", "There is no such request in your agency."),
    h("p", h("a.button", { href: "#/officer/requests" }, "All requests")));
}
