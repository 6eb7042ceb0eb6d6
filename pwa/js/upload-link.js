// The /u/<token> page: an owner who answered by text message uploads clips without an
// account. The token (the last segment of the path) is the authority for one ask:
// GET /api/upload-links/<token> says what is asked and how to upload, and every tus
// request carries it as `Authorization: Bearer <token>`.

import { get } from "/app/js/api.js";
import { offsetText, overwriteText } from "/app/js/recorder-clock.js";
import { formatBytes, formatWindow, h, languageSwitch, replace, time } from "/app/js/ui.js";
import { containerWords, uploadPanel } from "/app/js/upload.js";
import { chooseLanguage, setLanguage, storedChoice, t, tn, translatePage } from "/app/js/i18n.js";

const $ = (id) => document.getElementById(id);

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
      return [t("You are offline"), t("The page could not reach Porchlight."), t("Check your connection, then try again."), true];
    case 410:
      // The page's own words for an expired or unknown link: it knows what these mean.
      return [t("This link has expired"), t("This upload link has expired with the footage request."),
        t("The request has closed, so no more clips can be sent for it. Nothing else is needed from you.")];
    case 404:
    case 403:
      return [t("This link is not valid"), t("This upload link is not valid."),
        t("Check that the whole link was opened (long links are sometimes cut), or use the link from your latest "
        + "text message.")];
    case 409:
      return [t("No upload is possible for this request"), message || t("This request takes no clips now."),
        t("If you meant to share footage, reply YES with the request’s code to the text message first.")];
    default:
      return [t("Something went wrong"), message || t("The server answered HTTP %(status)s.", { status: answer.status }),
        t("Try again in a moment."), true];
  }
}

function clipItem(clip) {
  const status = clip.status === "complete" ? t("delivered") : clip.status === "purged"
    ? t("deleted when the agency’s retention ended")
    : t("uploading (%(received)s of %(size)s)", { received: formatBytes(clip.received), size: formatBytes(clip.size) });
  return h("li.clip", { dataset: { clipId: String(clip.id), status: clip.status } },
    h("h3", clip.filename || t("Clip %(id)s", { id: clip.id })),
    h("p.meta", `${formatBytes(clip.size)} · ${status}`),
    clip.sha256 ? h("p", h("span.sha256-label", t("SHA-256 computed by the server: ")), h("code.sha256", clip.sha256)) : null);
}

function drawClips(clips) {
  replace($("clips-list"), clips.map(clipItem));
  $("clips").hidden = clips.length === 0;
}

function drawPage(page) {
  $("request-title").textContent = t("What %(agency)s asks for", { agency: page.agency.name });
  $("request-summary").textContent = page.request.summary;
  $("request-incident").textContent = page.request.incident_type;
  $("request-window").textContent = formatWindow(page.request.window_start, page.request.window_end);
  const recorder = page.ask.recorder_window;
  $("request-recorder-term").hidden = !recorder;
  $("request-recorder").hidden = !recorder;
  $("request-recorder").textContent = recorder ? `${formatWindow(recorder.start, recorder.end)} `
    + t("(your recorder was %(offset)s when last read)", { offset: offsetText(recorder.offset_s) }) : "";
  const reminder = overwriteText(page.ask.overwrite_days_left);
  $("request-overwrite").hidden = !reminder;
  $("request-overwrite").textContent = reminder || "";
  $("request-camera").textContent = page.ask.camera_label;
  $("request-expires-term").hidden = !page.request.expires_at;
  $("request-expires").hidden = !page.request.expires_at;
  replace($("request-expires"), page.request.expires_at ? time(page.request.expires_at) : "");
  const limits = page.limits;
  $("request-limits").textContent = tn(
    "Video files up to %(size)s each, %(count)s more clip (%(formats)s)",
    "Video files up to %(size)s each, %(count)s more clips (%(formats)s)",
    limits.clips_remaining, { size: formatBytes(limits.max_clip_bytes), formats: containerWords(limits.containers) });
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
  // The page's own texts (data-i18n) in this device's language (the owner's, when the link
  // says which), and a switch to change it.
  await setLanguage(chooseLanguage(null));
  translatePage();
  $("main").prepend(languageSwitch());
  $("problem-retry").addEventListener("click", () => location.reload());
  state.token = tokenFromPath();
  if (!state.token) {
    showProblem(t("This link is not valid"), t("The link has no upload code in it."),
      t("Use the whole link from your text message."));
    return;
  }
  const answer = await get(`/api/upload-links/${encodeURIComponent(state.token)}`);
  if (!answer.ok) {
    showProblem(...problemFor(answer));
    return;
  }
  const page = answer.data;
  state.page = page;
  if (page.language && !storedChoice()) {
    await setLanguage(page.language);
    translatePage();
  }
  drawPage(page);
  document.title = t("Upload footage for %(name)s · Porchlight", { name: page.agency.name });
  const upload = page.upload;
  state.panel = uploadPanel({
    resumeKey: `link-ask-${page.ask.id}`,
    endpoint: upload.endpoint,
    headers: { Authorization: upload.authorization },
    metadata: upload.metadata || {},
    maxBytes: page.limits.max_clip_bytes,
    recorderOffset: page.ask.recorder_window ? page.ask.recorder_window.offset_s : null,
    onDelivered: reload,
  });
  replace($("upload-panel"), state.panel.node);
  $("upload").hidden = false;
  announce(t("%(name)s asks for footage from %(camera_label)s. Choose the video file to upload.", { name: page.agency.name, camera_label: page.ask.camera_label }));
}

start();
