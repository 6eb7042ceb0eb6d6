// Calls to the Porchlight JSON API from the browser, with the session cookie.
//
// Every call resolves (never throws) to {ok, status, data} or {ok: false, status, error},
// where error has the API's shape {status, code, message, fields?}.

import { language, t } from "./i18n.js";

// A function: the words are the language's at the time of the call.
const networkError = () => ({
  status: 0,
  code: "network_error",
  message: t("Porchlight could not be reached. Check your connection and try again."),
});

// A screen refreshing itself on a timer passes {background: true}: the server then does
// not count the call as someone at the keyboard, so an officer's session still goes idle.
export async function api(method, path, body, { background = false } = {}) {
  const options = {
    method,
    credentials: "same-origin",
    // The server answers (its messages, e-mails and texts) in the language on screen.
    headers: { Accept: "application/json", "Accept-Language": language() },
  };
  if (background) {
    options.headers["X-Porchlight-Background"] = "1";
  }
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    return { ok: false, status: 0, error: networkError() };
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (response.ok) {
    return { ok: true, status: response.status, data };
  }
  const error = data && data.error ? data.error : {
    status: response.status,
    code: "error",
    message: t("Something went wrong on our side (HTTP %(status)s). Try again shortly.", { status: response.status }),
  };
  const ended = error.code === "session_expired" || error.code === "session_revoked";
  if (response.status === 401 && (!path.startsWith("/api/auth/") || ended)) {
    // The session ended (signed out from another device, password changed, timed out): the
    // shell asks to sign in again and says why.
    window.dispatchEvent(new CustomEvent("porchlight:signed-out", { detail: ended ? error.message : "" }));
  }
  if (response.status === 403 && error.code === "second_factor_setup_required") {
    // This account must set up two-step sign-in before anything else: the shell takes it there.
    window.dispatchEvent(new CustomEvent("porchlight:setup-required"));
  }
  return { ok: false, status: response.status, error };
}

export const get = (path, options) => api("GET", path, undefined, options);
export const post = (path, body) => api("POST", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path, body) => api("DELETE", path, body);
