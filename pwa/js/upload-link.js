// The /u/<token> page: an owner who answered by text message uploads clips without an
// account. The token (the last segment of the path) is the authority for one ask:
// GET /api/upload-links/<token> says what is asked and how to upload, and every tus
// request carries it as `Authorization: Bearer <token>`.

import { get } from "/app/js/api.js";
import { formatBytes, formatWindow, h, replace, time } from "/app/js/ui.js";
import { uploadPanel } from "/app/js/upload.js";

const $ = (id) => document.getElementById(id);

// The server's container names, as owners know their files.
const CONTAINERS = { mp4: "MP4 or MOV", matroska: "MKV or WebM", avi: "AVI", mpegts: "MPEG-TS", h264: "raw H.264" };

const state = { token: "", page: null, panel: null };

function tokenFromPath() {
  const segments = location.pathname.split("/").filter(Boolean);
  const last = segments[segments.length - 1] || "";
  try {
    return segments.length >= 2 && segments[0] === "u" ? decodeURIComponent(last) : "";
  } catch {
    return "";
  }
}

function announce(text) {
  $("status").textContent = text;
}

function showProblem(title, message, help, retry = false) {
  for (const id of ["request", "upload", "clips"]) {
    $(id).hidden = true;
  }
  $("problem-title").textContent = title;
  $("problem-message").textContent = message;
  $("problem-help").textContent = help || "";
  $("problem-retry").hidden = !retry;
  $("problem").hidden = false;
  announce("");
  $("problem-title").focus();
}

function problemFor(answer) {
  const message = answer.error && answer.error.message;
  switch (answer.status) {
    case 0:
      return ["You are offline", "The page could not reach Porchlight.", "Check your connection, then try again.", true];
    case 410:
      return ["This link has expired", message || "This upload link has expired with the footage request.",
        "The request has closed, so no more clips can be sent for it. Nothing else is needed from you."];
    case 404:
    case 403:
      return ["This link is not valid", message || "This upload link is not valid.",
        "Check that the whole link was opened (long links are sometimes cut), or use the link from your latest "
        + "text message."];
    case 409:
      return ["No upload is possible for this request", message || "This request takes no clips now.",
        "If you meant to share footage, reply YES with the request’s code to the text message first."];
    default:
      return ["Something went wrong", message || `The server answered HTTP ${answer.status}.`,
        "Try again in a moment.", true];
  }
}

function clipItem(clip) {
  const status = clip.status === "complete" ? "delivered" : clip.status === "purged"
    ? "deleted when the agency’s retention ended" : `uploading (${formatBytes(clip.received)} of ${formatBytes(clip.size)})`;
  return h("li.clip", { dataset: { clipId: String(clip.id), status: clip.status } },
    h("h3", clip.filename || `Clip ${clip.id}`),
    h("p.meta", `${formatBytes(clip.size)} · ${status}`),
    clip.sha256 ? h("p", h("span.sha256-label", "SHA-256 computed by the server: "), h("code.sha256", clip.sha256)) : null);
}

function drawClips(clips) {
  replace($("clips-list"), clips.map(clipItem));
  $("clips").hidden = clips.length === 0;
}

function drawPage(page) {
  $("request-agency").textContent = page.agency.name;
  $("request-summary").textContent = page.request.summary;
  $("request-incident").textContent = page.request.incident_type;
  $("request-window").textContent = formatWindow(page.request.window_start, page.request.window_end);
  $("request-camera").textContent = page.ask.camera_label;
  $("request-expires-term").hidden = !page.request.expires_at;
  $("request-expires").hidden = !page.request.expires_at;
  replace($("request-expires"), page.request.expires_at ? time(page.request.expires_at) : "");
  const limits = page.limits;
  $("request-limits").textContent = `Video files up to ${formatBytes(limits.max_clip_bytes)} each, `
    + `${limits.clips_remaining} more ${limits.clips_remaining === 1 ? "clip" : "clips"} `
    + `(${limits.containers.map((name) => CONTAINERS[name] || name).join(", ")})`;
  $("request").hidden = false;
  $("problem").hidden = true;
  $("upload-full").hidden = limits.clips_remaining > 0;
  drawClips(page.clips || []);
}

async function reload() {
  const answer = await get(`/api/upload-links/${encodeURIComponent(state.token)}`);
  if (answer.ok) {
    state.page = answer.data;
    drawPage(answer.data);
    return answer.data.clips || [];
  }
  return state.page ? state.page.clips : [];
}

async function start() {
  $("problem-retry").addEventListener("click", () => location.reload());
  state.token = tokenFromPath();
  if (!state.token) {
    showProblem("This link is not valid", "The link has no upload code in it.",
      "Use the whole link from your text message.");
    return;
  }
  const answer = await get(`/api/upload-links/${encodeURIComponent(state.token)}`);
  if (!answer.ok) {
    showProblem(...problemFor(answer));
    return;
  }
  const page = answer.data;
  state.page = page;
  drawPage(page);
  document.title = `Upload footage for ${page.agency.name} · Porchlight`;
  const upload = page.upload;
  state.panel = uploadPanel({
    resumeKey: `link-ask-${page.ask.id}`,
    endpoint: upload.endpoint,
    headers: { Authorization: upload.authorization },
    metadata: upload.metadata || {},
    maxBytes: page.limits.max_clip_bytes,
    onDelivered: reload,
  });
  replace($("upload-panel"), state.panel.node);
  $("upload").hidden = false;
  announce(`${page.agency.name} asks for footage from ${page.ask.camera_label}. Choose the video file to upload.`);
}

start();
