// The owner's cameras: where each is, its direction, retention and blackout hours,
// with Pause / Resume at hand and a link to edit. Once a year the server asks the owner
// to confirm each camera (confirm_by set): a Confirm button then leads the card, and a
// camera paused for want of it (pause_reason "unconfirmed") resumes when confirmed.

import { get, post } from "../../api.js";
import { bearingText } from "../../map.js";
import { errorCard, formatDateTime, h, pill } from "../../ui.js";
import { SHORT_DAYS } from "./common.js";
import { N_, t, tn } from "../../i18n.js";

// "Mon 22:00–06:00 (next day)"
// A camera's status pill, in the owner's words.
function cameraPill(status) {
  const node = pill(status);
  node.textContent = { active: t("active"), paused: t("paused") }[status] || status;
  return node;
}

function blackoutText(window) {
  const overnight = window.end <= window.start;
  const days = `${SHORT_DAYS[window.day]} ${window.start}–${window.end}`;
  return overnight ? `${days} ${t("(next day)")}` : days;
}

function agencyNames(user, ids) {
  const names = new Map((user.memberships || []).map((m) => [m.agency_id, m.agency_name]));
  return ids.map((id) => names.get(id) || t("agency %(id)s", { id }));
}

function cameraCard(ctx, camera) {
  const titleId = `camera-${camera.id}-title`;
  const message = h("p.card-message", { role: "status" });
  const toggle = h("button", { type: "button", "aria-describedby": titleId }, camera.status === "paused" ? t("Resume") : t("Pause"));
  const item = h("li.camera-card", { dataset: { cameraId: String(camera.id), status: camera.status } });

  const confirm = h("button.primary", { type: "button", "aria-describedby": titleId }, t("Confirm"));

  function confirmation(current) {
    if (current.pause_reason === "unconfirmed") {
      return h("p.confirm-due", t("Paused because it was not confirmed in time. Confirm that it is still yours and "
        + "recording to resume it."));
    }
    return current.confirm_by ? h("p.confirm-due", t("Once a year we ask: is this camera still yours and still "
      + "recording? Confirm it by %(date)s, or it pauses.", { date: formatDateTime(current.confirm_by) })) : null;
  }

  function fill(current) {
    const shared = agencyNames(ctx.user, current.shared_agency_ids || []);
    const windows = current.blackout_windows || [];
    const due = Boolean(current.confirm_by || current.pause_reason === "unconfirmed");
    item.dataset.status = current.status;
    toggle.textContent = current.status === "paused" ? t("Resume") : t("Pause");
    toggle.hidden = current.pause_reason === "unconfirmed";
    item.replaceChildren(
      h("h2", { id: titleId }, current.label),
      h("p.meta", cameraPill(current.status), current.status === "paused" ? t(" No requests reach this camera.") : null),
      confirmation(current),
      h("dl.facts",
        h("div", h("dt", t("Location")), h("dd", current.address
          || `${current.latitude.toFixed(5)}, ${current.longitude.toFixed(5)}`)),
        h("div", h("dt", t("Faces")), h("dd", bearingText(current.bearing))),
        h("div", h("dt", t("Recorder keeps")), h("dd", tn("%(count)s day", "%(count)s days", current.retention_days))),
        h("div", h("dt", t("Blackout hours")), h("dd", windows.length ? windows.map(blackoutText).join(", ") : t("none"))),
        h("div", h("dt", t("Shared with")), h("dd", shared.length ? shared.join(", ") : t("no agency")))),
      h("div.actions",
        due ? confirm : null,
        h("a.button", { href: `#/cameras/${current.id}`, "aria-describedby": titleId }, t("Edit")),
        toggle),
      message);
  }

  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    const answer = await post(`/api/cameras/${camera.id}/confirm`);
    confirm.disabled = false;
    if (!answer.ok) {
      message.textContent = answer.error.message;
      return;
    }
    fill(answer.data);
    message.textContent = t("Confirmed, thank you. We will ask again in a year.");
    toggle.focus();
  });

  toggle.addEventListener("click", async () => {
    const paused = item.dataset.status === "paused";
    toggle.disabled = true;
    const answer = await post(`/api/cameras/${camera.id}/${paused ? "resume" : "pause"}`);
    toggle.disabled = false;
    if (!answer.ok) {
      message.textContent = answer.error.message;
      return;
    }
    fill(answer.data);
    message.textContent = paused ? t("Resumed: officers can ask this camera again.")
      : t("Paused: no footage requests reach this camera until you resume it.");
    toggle.focus();
  });
  fill(camera);
  return item;
}

export default {
  title: N_("Your cameras"),
  async render(ctx) {
    const answer = await get("/api/cameras");
    if (!answer.ok) {
      return h("section", h("h1", t("Your cameras")), errorCard(answer.error, () => ctx.navigate("/cameras")));
    }
    const cameras = answer.data;
    const add = h("a.button.primary", { href: "#/cameras/new" }, cameras.length ? t("Add another camera") : t("Add a camera"));
    if (!cameras.length) {
      return h("section",
        h("h1", t("Your cameras")),
        h("div.card.empty-state",
          h("h2", t("No cameras yet")),
          h("p", t("Add your camera with where it is, which way it looks and how long your recorder keeps video. "
            + "Officers see only its location and direction — never who you are.")),
          add));
    }
    return h("section",
      h("h1", t("Your cameras")),
      h("p", t("Pause a camera whenever you like: no requests reach it until you resume. "
        + "Blackout hours pause it every week at the same times.")),
      h("ul.cards.cameras", cameras.map((camera) => cameraCard(ctx, camera))),
      add);
  },
};
