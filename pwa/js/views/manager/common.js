// Helpers of the district manager's screens: a multipart upload with progress, JSON calls
// that also report Retry-After, plain words for the API's errors, and counts.
//
// api.js sends JSON only; the member spreadsheet goes as multipart/form-data through
// XMLHttpRequest, whose upload.onprogress fetch() still lacks.

import { h } from "../../ui.js";
import { t, tn } from "../../i18n.js";

const NETWORK_ERROR = {
  status: 0,
  code: "network_error",
  message: t("Porchlight could not be reached. Check your connection and try again."),
};

// Seconds from a Retry-After header (delta-seconds or an HTTP date), or null.
export function retryAfterSeconds(value, now = Date.now()) {
  if (!value) {
    return null;
  }
  if (/^\s*\d+\s*$/.test(value)) {
    return Number(value);
  }
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, Math.round((when - now) / 1000));
}

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

function answerOf(status, data, retryAfter) {
  if (status >= 200 && status < 300) {
    return { ok: true, status, data };
  }
  if (status === 401) {
    window.dispatchEvent(new CustomEvent("porchlight:signed-out"));
  }
  const error = data && data.error ? data.error : {
    status,
    code: "error",
    message: status === 413
      ? t("The file is too large for Porchlight.")
      : t("Something went wrong on our side (HTTP %(status)s). Try again shortly.", { status }),
  };
  return { ok: false, status, error, retryAfter };
}

// POST `file` as the multipart field "file" to `url`. Resolves (never rejects) to
// {ok, status, data} or {ok: false, status, error}. onProgress(sent, total) follows the
// upload; onSent() runs once the last byte has left (the server is then checking it).
// Returns {promise, abort}.
export function uploadFile(url, file, { onProgress, onSent } = {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve) => {
    xhr.open("POST", url);
    xhr.setRequestHeader(t("Accept"), "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (onProgress) {
        onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
      }
    });
    xhr.upload.addEventListener("load", () => { if (onSent) { onSent(); } });
    xhr.addEventListener("load", () => {
      resolve(answerOf(xhr.status, parseJson(xhr.responseText), retryAfterSeconds(xhr.getResponseHeader(t("Retry-After")))));
    });
    xhr.addEventListener("error", () => resolve({ ok: false, status: 0, error: NETWORK_ERROR }));
    xhr.addEventListener("abort", () => resolve({ ok: false, status: 0, aborted: true,
      error: { status: 0, code: "aborted", message: t("The upload was stopped.") } }));
    const body = new FormData();
    body.append("file", file, file.name);
    xhr.send(body);
  });
  return { promise, abort: () => xhr.abort() };
}

// A JSON POST that, unlike api.js, also reports Retry-After (seconds) of a 429 answer.
export async function postWithRetry(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
  } catch {
    return { ok: false, status: 0, error: NETWORK_ERROR };
  }
  const data = parseJson(await response.text());
  return answerOf(response.status, data, retryAfterSeconds(response.headers.get("Retry-After")));
}

// Plain words for an upload that was refused, by HTTP status, with the server's message.
export function uploadErrorText(answer) {
  const message = answer.error && answer.error.message ? answer.error.message : "";
  switch (answer.status) {
    case 413:
      return [t("The file is too large."), message || t("Split the spreadsheet into smaller files and upload each one.")];
    case 415:
      return [t("This is not a spreadsheet Porchlight can read."), message || t("Save it as CSV or Excel (.xlsx).")];
    case 422:
      return [t("The file cannot be imported."), message];
    case 0:
      return [message || NETWORK_ERROR.message];
    default:
      return [message || t("The upload failed (HTTP %(status)s).", { status: answer.status })];
  }
}

// "in 5 minutes (at 14:32)" for a wait of `seconds`.
export function retryWhen(seconds, now = Date.now()) {
  if (seconds === null || seconds === undefined) {
    return t("in a few minutes");
  }
  const at = new Date(now + seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (seconds < 60) {
    return tn("in %(count)s second (at %(at)s)", "in %(count)s seconds (at %(at)s)", seconds, { at });
  }
  return tn("in %(count)s minute (at %(at)s)", "in %(count)s minutes (at %(at)s)", Math.ceil(seconds / 60), { at });
}

// <dl class="counts"> of [key, label, value] triples.
export function countsList(label, items) {
  return h("dl.counts", { "aria-label": label },
    items.map(([key, text, value]) => h("div", { dataset: { total: key } },
      h("dt", text), h("dd", String(value ?? 0)))));
}
