// The owner's cameras: where each is, its direction, retention and blackout hours,
// with Pause / Resume at hand and a link to edit.

import { get, post } from "../../api.js";
import { bearingText } from "../../map.js";
import { errorCard, h, pill } from "../../ui.js";
import { DAYS } from "./common.js";

// "Mon 22:00–06:00 (next day)"
function blackoutText(window) {
  const overnight = window.end <= window.start;
  return `${DAYS[window.day].slice(0, 3)} ${window.start}–${window.end}${overnight ? " (next day)" : ""}`;
}

function agencyNames(user, ids) {
  const names = new Map((user.memberships || []).map((m) => [m.agency_id, m.agency_name]));
  return ids.map((id) => names.get(id) || `agency ${id}`);
}

function cameraCard(ctx, camera) {
  const titleId = `camera-${camera.id}-title`;
  const message = h("p.card-message", { role: "status" });
  const toggle = h("button", { type: "button", "aria-describedby": titleId }, camera.status === "paused" ? "Resume" : "Pause");
  const item = h("li.camera-card", { dataset: { cameraId: String(camera.id), status: camera.status } });

  function fill(current) {
    const shared = agencyNames(ctx.user, current.shared_agency_ids || []);
    const windows = current.blackout_windows || [];
    item.dataset.status = current.status;
    toggle.textContent = current.status === "paused" ? "Resume" : "Pause";
    item.replaceChildren(
      h("h2", { id: titleId }, current.label),
      h("p.meta", pill(current.status), current.status === "paused" ? " No requests reach this camera." : null),
      h("dl.facts",
        h("div", h("dt", "Location"), h("dd", current.address
          || `${current.latitude.toFixed(5)}, ${current.longitude.toFixed(5)}`)),
        h("div", h("dt", "Faces"), h("dd", bearingText(current.bearing))),
        h("div", h("dt", "Recorder keeps"), h("dd", `${current.retention_days} ${current.retention_days === 1 ? "day" : "days"}`)),
        h("div", h("dt", "Blackout hours"), h("dd", windows.length ? windows.map(blackoutText).join(", ") : "none")),
        h("div", h("dt", "Shared with"), h("dd", shared.length ? shared.join(", ") : "no agency"))),
      h("div.actions",
        h("a.button", { href: `#/cameras/${current.id}`, "aria-describedby": titleId }, "Edit"),
        toggle),
      message);
  }

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
    message.textContent = paused ? "Resumed: officers can ask this camera again."
      : "Paused: no footage requests reach this camera until you resume it.";
    toggle.focus();
  });
  fill(camera);
  return item;
}

export default {
  title: "Your cameras",
  async render(ctx) {
    const answer = await get("/api/cameras");
    if (!answer.ok) {
      return h("section", h("h1", "Your cameras"), errorCard(answer.error, () => ctx.navigate("/cameras")));
    }
    const cameras = answer.data;
    const add = h("a.button.primary", { href: "#/cameras/new" }, cameras.length ? "Add another camera" : "Add a camera");
    if (!cameras.length) {
      return h("section",
        h("h1", "Your cameras"),
        h("div.card.empty-state",
          h("h2", "No cameras yet"),
          h("p", "Add your camera with where it is, which way it looks and how long your recorder keeps video. "
            + "Officers see only its location and direction — never who you are."),
          add));
    }
    return h("section",
      h("h1", "Your cameras"),
      h("p", "Pause a camera whenever you like: no requests reach it until you resume. "
        + "Blackout hours pause it every week at the same times."),
      h("ul.cards.cameras", cameras.map((camera) => cameraCard(ctx, camera))),
      add);
  },
};
