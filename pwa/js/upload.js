// Resumable clip uploads with tus-js-client (tus 1.0.0 to /api/uploads), shared by the
// ask screen (owner's session cookie) and the upload-link page (Authorization: Bearer).
//
// What the owner sees, per file: a <progress> bar with the percentage and bytes, Pause,
// Resume and Cancel, and a status line screen readers hear. An upload
//  - retries by itself after a failed request (retryDelays),
//  - waits while the device is offline and continues on the `online` event,
//  - survives a closed app: tus-js-client keeps each upload's URL in localStorage under
//    a fingerprint of the file and the ask, so choosing the same file again continues
//    where the server stopped (a web page cannot reopen a file by itself: the owner
//    re-selects it, and the panel says so).
//
// Uploads keep running while the owner looks at other screens: the rows live in this
// module (one "session" per ask) and a panel drawn later shows the same rows again.
//
// Each upload's Upload-Metadata also says what the browser knows of the file (its name,
// type and File.lastModified as `last_modified`) and, when the owner answered the
// question on their recorder's clock (recorder-clock.js), `recorder_offset`.

import { recorderClockField } from "./recorder-clock.js";
import { loadScript } from "./vendor.js";
import { formatBytes, formatDateTime, h } from "./ui.js";
import { t } from "./i18n.js";

const MIB = 1024 * 1024;
// The chunk size the server's benchmark uses (docs/BENCHMARKS.md): small enough for a
// proxy's body limit and for a phone to lose little when a request drops.
export const DEFAULT_CHUNK_SIZE = 8 * MIB;
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000];
const FINGERPRINT_PREFIX = "porchlight|";
const ACTIVE = new Set(["starting", "uploading", "waiting"]);

const sessions = new Map();
let counter = 0;

export function loadTus() {
  return loadScript("tus.js", "tus");
}

// The server's container names (app/clips/sniff.py), as owners know their files.
const CONTAINER_WORDS = {
  mp4: t("MP4 or MOV (also Hikvision’s .mp4 exports)"), matroska: t("MKV or WebM"), avi: "AVI", mpegts: "MPEG-TS",
  h264: t("raw H.264 (.264)"), hevc: t("raw H.265 (.265)"), mpegps: t("MPEG program streams (.mpg, .vob, Hikvision exports)"),
  dhav: t("Dahua .dav"), asf: t("WMV or ASF"), zip: t("ZIP exports with the recorder’s player"),
};

// "MP4 or MOV, Dahua .dav and ..." for the server's allowed containers.
export function containerWords(names) {
  const words = names.map((name) => CONTAINER_WORDS[name] || name);
  return words.length > 1
    ? t("%(list)s and %(last)s", { list: words.slice(0, -1).join(", "), last: words[words.length - 1] }) : words.join("");
}

function fingerprintOf(resumeKey, file) {
  return [FINGERPRINT_PREFIX + resumeKey, file.name, file.type, file.size, file.lastModified].join("|");
}

function storageKeyPrefix(resumeKey) {
  return `tus::${FINGERPRINT_PREFIX}${resumeKey}|`;
}

// The sentence from the API's error body, if the failed request had one.
function errorMessage(error) {
  const response = error && error.originalResponse;
  if (response) {
    const status = response.getStatus();
    try {
      const body = JSON.parse(response.getBody() || "null");
      if (body && body.error && body.error.message) {
        return body.error.message;
      }
    } catch {
      // not JSON: fall through
    }
    if (status === 401) {
      return t("You were signed out. Sign in again, then choose the file again to continue.");
    }
    if (status) {
      return t("The server refused the upload (HTTP %(status)s).", { status });
    }
  }
  if (!navigator.onLine) {
    return t("You are offline.");
  }
  return t("The connection failed. Press Resume to try again; the upload continues where it stopped.");
}

function isNetworkFailure(error) {
  const response = error && error.originalResponse;
  return !response || !response.getStatus();
}

// --- one file ---------------------------------------------------------------------------------

class UploadRow {
  constructor(session, file) {
    this.session = session;
    this.file = file;
    this.state = "queued";
    this.upload = null;
    this.sent = 0;
    this.milestone = -1;
    this.sha256 = null;
    const id = `upload-${++counter}`;
    this.progress = h("progress", { max: 100, value: 0, "aria-labelledby": `${id}-name`,
      "aria-describedby": `${id}-bytes` });
    this.bytesText = h("p.upload-bytes", { id: `${id}-bytes` });
    this.statusText = h("p.upload-status", { role: "status", "aria-live": "polite" });
    this.pauseButton = h("button", { type: "button", onclick: () => this.pause() }, t("Pause"));
    this.resumeButton = h("button", { type: "button", onclick: () => this.resume() }, t("Resume"));
    this.cancelButton = h("button", { type: "button", onclick: () => this.cancel() }, t("Cancel upload"));
    this.result = h("div.upload-result");
    this.node = h("li.upload-row", { dataset: { state: this.state } },
      h("p.upload-name", { id: `${id}-name` }, h("strong", file.name || t("Video")), " ",
        h("span.meta", `(${formatBytes(file.size)})`)),
      this.progress,
      this.bytesText,
      this.statusText,
      h("div.actions.upload-actions", this.pauseButton, this.resumeButton, this.cancelButton),
      this.result);
    this.showBytes(0);
    this.setState("queued", t("Waiting for the file before it to finish."));
  }

  setState(state, text) {
    this.state = state;
    this.node.dataset.state = state;
    if (text !== undefined) {
      this.statusText.textContent = text;
    }
    const active = ACTIVE.has(state);
    this.pauseButton.hidden = !active;
    this.resumeButton.hidden = !(state === "paused" || state === "error");
    this.cancelButton.hidden = !(active || state === "paused" || state === "error" || state === "queued");
  }

  showBytes(sent) {
    const total = this.file.size;
    this.sent = sent;
    const percent = total ? Math.floor((sent / total) * 100) : 0;
    this.progress.value = percent;
    this.progress.setAttribute("aria-valuetext", `${percent}%`);
    this.node.dataset.percent = String(percent);
    this.bytesText.textContent = t("%(percent)s%% · %(sent)s of %(total)s", { percent, sent: formatBytes(sent), total: formatBytes(total) }).replace("%%", "%");
    // The status line (heard by screen readers) moves in steps of 10%, not every byte.
    const step = Math.floor(percent / 10);
    if (this.state === "uploading" && step !== this.milestone) {
      this.milestone = step;
      this.statusText.textContent = t("Uploading: %(percent)s sent.", { percent: `${percent}%` });
    }
  }

  // What the server keeps of the file besides its bytes; the recorder's clock as answered
  // when this upload began (a resumed upload keeps what it was created with).
  metadata() {
    const file = this.file;
    const metadata = { ...(this.session.options.metadata || {}), filename: file.name || "video",
      filetype: file.type || "application/octet-stream" };
    if (Number.isSafeInteger(file.lastModified) && file.lastModified > 0) {
      metadata.last_modified = String(file.lastModified);
    }
    if (this.session.recorderOffset !== null) {
      metadata.recorder_offset = String(this.session.recorderOffset);
    }
    return metadata;
  }

  async start() {
    const session = this.session;
    this.setState("starting", t("Starting the upload…"));
    let tus;
    try {
      tus = await loadTus();
    } catch {
      this.setState("error", t("The upload tool could not be loaded. Check your connection and press Resume."));
      return;
    }
    if (!this.upload) {
      const options = session.options;
      this.upload = new tus.Upload(this.file, {
        endpoint: options.endpoint,
        headers: options.headers || {},
        metadata: this.metadata(),
        chunkSize: options.chunkSize || DEFAULT_CHUNK_SIZE,
        retryDelays: RETRY_DELAYS,
        removeFingerprintOnSuccess: true,
        fingerprint: (file) => Promise.resolve(fingerprintOf(options.resumeKey, file)),
        onBeforeRequest: (request) => {
          // Same origin, so the session cookie goes anyway; say so explicitly all the same.
          const xhr = request.getUnderlyingObject();
          if (xhr && "withCredentials" in xhr) {
            xhr.withCredentials = true;
          }
        },
        onProgress: (sent) => {
          if (this.state === "starting" || this.state === "waiting") {
            this.milestone = -1; // say at once how far it is
            this.setState("uploading");
          }
          this.showBytes(sent);
        },
        onSuccess: () => this.finished(),
        onError: (error) => this.failed(error),
      });
      // Left unfinished before (the app was closed, the phone restarted): continue it.
      try {
        const previous = await this.upload.findPreviousUploads();
        if (previous.length) {
          previous.sort((a, b) => new Date(b.creationTime) - new Date(a.creationTime));
          this.upload.resumeFromPreviousUpload(previous[0]);
          this.setState("starting", t("Continuing the upload where it stopped…"));
          session.forgetNotice(previous[0].urlStorageKey);
        }
      } catch {
        // no storage: the upload starts from the beginning
      }
    }
    if (!navigator.onLine) {
      this.setState("waiting", t("You are offline. The upload starts by itself when the connection is back."));
      return;
    }
    this.setState("starting");
    this.upload.start();
  }

  pause() {
    if (this.upload) {
      this.upload.abort();
    }
    this.setState("paused", t("Paused at %(percent)s%%. Press Resume to continue.", { percent: Math.floor((this.sent / this.file.size) * 100) }).replace("%%", "%"));
    this.session.pump();
  }

  resume() {
    if (this.session.busyWith(this)) {
      this.setState("queued", t("Waiting for the file before it to finish."));
      return;
    }
    this.start();
  }

  // The network is gone: stop sending, wait for the `online` event.
  offline() {
    if (ACTIVE.has(this.state) && this.upload) {
      this.upload.abort();
      this.setState("waiting", t("You are offline. The upload continues by itself when the connection is back."));
    }
  }

  online() {
    if (this.state === "waiting") {
      this.setState("starting", t("Back online: continuing the upload…"));
      this.start();
    }
  }

  async cancel() {
    const upload = this.upload;
    this.setState("cancelled", t("Upload cancelled. Nothing of it was kept."));
    this.progress.value = 0;
    if (upload) {
      try {
        await upload.abort(true);
      } catch {
        // Offline: the server ends the unfinished upload by itself after a while.
        this.statusText.textContent = t("Upload cancelled here. The server removes the unfinished part by itself.");
      }
    }
    this.session.pump();
  }

  failed(error) {
    if (!navigator.onLine || (isNetworkFailure(error) && this.state === "waiting")) {
      this.setState("waiting", t("You are offline. The upload continues by itself when the connection is back."));
      return;
    }
    const message = errorMessage(error);
    this.setState("error", t("Not uploaded: %(message)s", { message }));
    this.session.pump();
  }

  async finished() {
    this.showBytes(this.file.size);
    this.setState("done", t("Uploaded. Checking the server’s SHA-256 fingerprint…"));
    this.session.pump();
    let clip = null;
    try {
      const clips = await this.session.options.onDelivered?.();
      clip = (clips || [])
        .filter((c) => c.status === "complete" && c.size === this.file.size
          && (!c.filename || c.filename === (this.file.name || "video")))
        .sort((a, b) => b.id - a.id)[0] || null;
    } catch {
      clip = null;
    }
    if (clip && clip.sha256) {
      this.sha256 = clip.sha256;
      this.setState("done", t("Delivered. The server computed this SHA-256 fingerprint of the clip:"));
      this.result.replaceChildren(h("p.sha256", { "data-clip-id": String(clip.id) }, h("code", clip.sha256)));
    } else {
      this.setState("done", t("Delivered. Its SHA-256 fingerprint appears in the list of clips below."));
    }
  }
}

// --- one ask's uploads -----------------------------------------------------------------------------

class UploadSession {
  constructor(options) {
    this.options = options;
    this.rows = [];
    // The owner's answer on the recorder's clock (seconds), or null: kept while the app runs.
    this.recorderOffset = null;
    this.list = h("ul.uploads");
    this.notice = h("div.upload-notice");
  }

  // Whether this file is already in the list (and not given up on).
  has(file) {
    return this.rows.some((row) => row.file.name === file.name && row.file.size === file.size
      && row.file.lastModified === file.lastModified && !["cancelled", "error"].includes(row.state));
  }

  add(files) {
    for (const file of files) {
      const row = new UploadRow(this, file);
      this.rows.push(row);
      this.list.append(row.node);
    }
    this.pump();
  }

  busyWith(except) {
    return this.rows.some((row) => row !== except && ACTIVE.has(row.state));
  }

  // One file at a time: a phone's connection is shared better in sequence.
  pump() {
    if (this.busyWith(null)) {
      return;
    }
    const next = this.rows.find((row) => row.state === "queued");
    if (next) {
      next.start();
    }
  }

  // Unfinished uploads of this ask that tus-js-client remembers from an earlier visit.
  async drawNotice() {
    const prefix = storageKeyPrefix(this.options.resumeKey);
    let stored = [];
    try {
      const tus = await loadTus();
      stored = (await tus.defaultOptions.urlStorage.findAllUploads())
        .filter((entry) => entry.urlStorageKey.startsWith(prefix));
    } catch {
      stored = [];
    }
    // Files being uploaded right now are not "left unfinished".
    const running = new Set(this.rows.filter((row) => row.upload && row.upload._urlStorageKey)
      .map((row) => row.upload._urlStorageKey));
    stored = stored.filter((entry) => !running.has(entry.urlStorageKey));
    if (!stored.length) {
      this.notice.replaceChildren();
      return;
    }
    this.notice.replaceChildren(h("div.card.resume-card", { role: "region", "aria-labelledby": `resume-title-${this.options.resumeKey}` },
      h("h3", { id: `resume-title-${this.options.resumeKey}` }, stored.length === 1
        ? t("An upload did not finish") : t("%(count)s uploads did not finish", { count: stored.length })),
      h("p", t("Choose the same file again below and it continues where it stopped. "),
        t("This page cannot reopen a file by itself after the app was closed.")),
      h("ul.plain", stored.map((entry) => h("li", { dataset: { key: entry.urlStorageKey } },
        h("strong", (entry.metadata && entry.metadata.filename) || t("A video")),
        t(" (%(size)s), started %(when)s. ", { size: formatBytes(entry.size || 0), when: formatDateTime(entry.creationTime) }),
        h("button.link", { type: "button", onclick: () => this.discard(entry) }, t("Forget this upload")))))));
  }

  forgetNotice(key) {
    const item = this.notice.querySelector(`li[data-key="${CSS.escape(key)}"]`);
    if (item) {
      item.remove();
      if (!this.notice.querySelector("li")) {
        this.notice.replaceChildren();
      }
    }
  }

  async discard(entry) {
    try {
      const tus = await loadTus();
      if (entry.uploadUrl) {
        await tus.Upload.terminate(entry.uploadUrl, { headers: this.options.headers || {} }).catch(() => null);
      }
      await tus.defaultOptions.urlStorage.removeUpload(entry.urlStorageKey);
    } catch {
      // nothing more to do: the server ends an abandoned upload by itself
    }
    this.forgetNotice(entry.urlStorageKey);
  }
}

function onOnline() {
  for (const session of sessions.values()) {
    for (const row of session.rows) {
      row.online();
    }
    session.pump();
  }
}

function onOffline() {
  for (const session of sessions.values()) {
    for (const row of session.rows) {
      row.offline();
    }
  }
}

let listening = false;

function listenToNetwork() {
  if (!listening) {
    listening = true;
    window.addEventListener("online", onOnline);
    window.addEventListener("offline", onOffline);
  }
}

// The upload panel for one ask. options:
//   resumeKey   what identifies the ask ("ask-12", "link-ask-12"): uploads resume under it
//   endpoint    the tus creation URL (/api/uploads)
//   headers     extra headers (the link's Authorization)
//   metadata    Upload-Metadata besides the file name ({ask_id})
//   chunkSize   bytes per PATCH (default 8 MiB)
//   maxBytes    the agency's largest clip, when known (checked before sending)
//   containers  the server's allowed containers, to say which files are accepted (optional)
//   recorderOffset  the camera's last known recorder clock offset (seconds), or null
//   onDelivered async () => the ask's clips, to show the server's SHA-256
// Returns {node, cleanup}; cleanup detaches the panel, uploads continue.
export function uploadPanel(options) {
  listenToNetwork();
  let session = sessions.get(options.resumeKey);
  if (!session) {
    session = new UploadSession(options);
    sessions.set(options.resumeKey, session);
  } else {
    // Newer callbacks and limits; rows keep the options they started with.
    session.options = { ...session.options, ...options };
  }
  const inputId = `clip-files-${options.resumeKey}`;
  const problem = h("p.field-error", { id: `${inputId}-error`, hidden: true, role: "alert" });
  // No accept= filter: phones grey out what they do not know as video (.dav, .264, a ZIP
  // export), and the server judges every file by its leading bytes anyway.
  const input = h("input", {
    id: inputId, type: "file", multiple: true,
    "aria-describedby": `${inputId}-hint ${inputId}-formats ${inputId}-error`,
  });
  const clock = recorderClockField({
    id: `recorder-clock-${options.resumeKey}`,
    remembered: options.recorderOffset ?? null,
    answer: session.recorderOffset,
    onChange: (offset) => { session.recorderOffset = offset; },
  });
  input.addEventListener("change", () => {
    const files = Array.from(input.files || []);
    problem.hidden = true;
    const tooLarge = options.maxBytes ? files.filter((file) => file.size > options.maxBytes) : [];
    const empty = files.filter((file) => file.size === 0);
    const again = files.filter((file) => session.has(file));
    if (tooLarge.length || empty.length || again.length) {
      problem.hidden = false;
      problem.textContent = [
        tooLarge.length ? t("%(files)s: larger than the %(size)s the agency accepts. Trim the clip to the time asked for.",
          { files: tooLarge.map((f) => f.name).join(", "), size: formatBytes(options.maxBytes) }) : "",
        empty.length ? t("%(files)s: the file is empty.", { files: empty.map((f) => f.name).join(", ") }) : "",
        again.length ? t("%(files)s: already in the list below.", { files: again.map((f) => f.name).join(", ") }) : "",
      ].filter(Boolean).join(" ");
    }
    const good = files.filter((file) => !tooLarge.includes(file) && !empty.includes(file) && !again.includes(file));
    if (good.length) {
      session.add(good);
    }
    input.value = "";
  });
  const node = h("div.uploader",
    session.notice,
    clock.node,
    h("div.field",
      h("label", { for: inputId }, t("Choose video files")),
      h("p.hint", { id: `${inputId}-hint` },
        t("Export the clip from your recorder’s app first, covering the time asked for. "),
        options.maxBytes ? t("Up to %(size)s a file. ", { size: formatBytes(options.maxBytes) }) : "",
        t("Uploads continue by themselves after a dropped connection.")),
      h("p.hint", { id: `${inputId}-formats` },
        t("Recorder exports: choose the file from Files, not Photos — Photos may convert it. "),
        options.containers && options.containers.length
          ? t("Accepted: %(formats)s.", { formats: containerWords(options.containers) })
          : t("Send the file just as your recorder exported it.")),
      input,
      problem),
    session.list);
  session.drawNotice();
  return {
    node,
    session,
    cleanup() {
      // The panel leaves the screen; the uploads go on (see the module comment).
    },
  };
}
