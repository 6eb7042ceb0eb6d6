// Scan an enrollment QR code with the phone's camera, or type the code.
//
// Frames are decoded with the browser's BarcodeDetector where it exists, else with
// jsQR (from npm, /app/vendor/jsqr.js). A Porchlight enrollment link (…/e/<code>, from
// this server or another Porchlight's) opens the enrollment page for that code.

import { clearErrors, showErrors, values } from "../../forms.js";
import { field, formError, h } from "../../ui.js";
import { loadScript } from "../../vendor.js";
import { N_, t } from "../../i18n.js";

const SCAN_INTERVAL_MS = 120;
const MAX_SIDE = 720;

// The enrollment code in a scanned text: a link ending in /e/<code>, or a bare code.
export function enrollmentCode(text) {
  const value = String(text || "").trim();
  try {
    const url = new URL(value, location.origin);
    const match = /\/e\/([^/?#]+)\/?$/.exec(url.pathname);
    if (match && (url.protocol === "https:" || url.protocol === "http:")) {
      return decodeURIComponent(match[1]);
    }
  } catch {
    // not a URL
  }
  return /^[A-Za-z0-9]{4}[- ]?[A-Za-z0-9]{4}$/.test(value) ? value : null;
}

function cameraProblem(error) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return t("Camera access was not allowed. To scan, allow the camera for this site in your browser’s settings "
      + "and press Start camera again — or type the code from your sheet below.");
  }
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
    return t("This device has no camera Porchlight can use. Type the code from your sheet below.");
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return t("The camera is busy (another app may be using it). Close that app and press Start camera again, "
      + "or type the code below.");
  }
  return t("The camera could not be started. Type the code from your sheet below.");
}

export default {
  title: N_("Scan an enrollment QR code"),
  async render(ctx) {
    let stream = null;
    let timer = null;
    let stopped = false;
    let decoder = null;
    let lastWrong = "";

    const video = h("video", { muted: true, playsInline: true, autoplay: false, "aria-hidden": "true" });
    video.setAttribute("playsinline", "");
    const canvas = document.createElement("canvas");
    const status = h("p.scan-status", { role: "status", "aria-live": "polite" },
      t("Press Start camera, then hold the QR code from your sheet in front of it."));
    const problem = h("div.alert", { role: "alert", hidden: true });
    const startButton = h("button.primary", { type: "button", onclick: () => start() }, t("Start camera"));
    const stopButton = h("button", { type: "button", hidden: true, onclick: () => stop(t("Camera stopped.")) },
      t("Stop camera"));
    const viewer = h("div.scanner", { hidden: true }, video, h("div.scanner-frame", { "aria-hidden": "true" }));

    function showProblem(text) {
      problem.replaceChildren(h("p", text));
      problem.hidden = false;
    }

    function stop(text) {
      stopped = true;
      if (timer) {
        clearTimeout(timer);
        timer = null;
      }
      if (stream) {
        for (const track of stream.getTracks()) {
          track.stop();
        }
        stream = null;
      }
      video.srcObject = null;
      viewer.hidden = true;
      stopButton.hidden = true;
      startButton.hidden = false;
      if (text) {
        status.textContent = text;
      }
    }

    function found(code) {
      stop(t("Code found. Opening the enrollment page…"));
      ctx.announce(t("Code found."));
      location.assign(`/e/${encodeURIComponent(code)}`);
    }

    async function makeDecoder() {
      if ("BarcodeDetector" in window) {
        try {
          const formats = await window.BarcodeDetector.getSupportedFormats();
          if (formats.includes("qr_code")) {
            const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
            return async () => {
              const codes = await detector.detect(video);
              return codes.length ? codes[0].rawValue : null;
            };
          }
        } catch {
          // fall back to jsQR
        }
      }
      const jsQR = await loadScript("jsqr.js", "jsQR");
      const context = canvas.getContext("2d", { willReadFrequently: true });
      return async () => {
        const width = video.videoWidth;
        const height = video.videoHeight;
        if (!width || !height) {
          return null;
        }
        const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
        canvas.width = Math.round(width * scale);
        canvas.height = Math.round(height * scale);
        context.drawImage(video, 0, 0, canvas.width, canvas.height);
        const image = context.getImageData(0, 0, canvas.width, canvas.height);
        const result = jsQR(image.data, image.width, image.height, { inversionAttempts: "attemptBoth" });
        return result ? result.data : null;
      };
    }

    async function tick() {
      timer = null;
      if (stopped || !stream) {
        return;
      }
      let text = null;
      try {
        text = await decoder();
      } catch {
        text = null;
      }
      if (stopped) {
        return;
      }
      if (text) {
        const code = enrollmentCode(text);
        if (code) {
          found(code);
          return;
        }
        if (text !== lastWrong) {
          lastWrong = text;
          status.textContent = t("That QR code is not a Porchlight enrollment code. Try the code on your Porchlight sheet.");
        }
      }
      timer = setTimeout(tick, SCAN_INTERVAL_MS);
    }

    async function start() {
      problem.hidden = true;
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        showProblem(t("This browser cannot use the camera on this page. Type the code from your sheet below."));
        return;
      }
      stopped = false;
      startButton.disabled = true;
      status.textContent = t("Starting the camera…");
      try {
        stream = await navigator.mediaDevices.getUserMedia({
          video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
          audio: false,
        });
      } catch (error) {
        startButton.disabled = false;
        stream = null;
        status.textContent = "";
        showProblem(cameraProblem(error));
        return;
      }
      startButton.disabled = false;
      if (stopped || !ctx.current) {
        stop();
        return;
      }
      try {
        decoder = decoder || await makeDecoder();
      } catch {
        stop("");
        showProblem(t("The QR reader could not be loaded. Check your connection, or type the code below."));
        return;
      }
      video.srcObject = stream;
      viewer.hidden = false;
      startButton.hidden = true;
      stopButton.hidden = false;
      try {
        await video.play();
      } catch {
        // autoplay of a muted inline video is allowed; if not, frames still arrive
      }
      status.textContent = t("Camera on. Hold the QR code inside the frame.");
      tick();
    }

    const form = h("form", { novalidate: true },
      formError(),
      field(t("Enrollment code"), h("input", {
        id: "scan-code", name: "code", type: "text", class: "code", autocomplete: "off",
        autocapitalize: "characters", spellcheck: false, placeholder: "ABCD-EFGH", maxlength: 32,
      }), { hint: t("Eight letters and digits, printed under the QR code. Case, spaces and dashes don’t matter.") }),
      h("button", { type: "submit" }, t("Continue with this code")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form);
      const typed = values(form).code;
      if (!typed) {
        showErrors(form, { message: t("Type the code first."), fields: { code: [t("Type the code from your sheet.")] } });
        return;
      }
      stop();
      location.assign(`/e/${encodeURIComponent(enrollmentCode(typed) || typed)}`);
    });

    const node = h("section.scan",
      h("h1", t("Scan your enrollment QR code")),
      h("p", t("Your police department or business district hands out sheets with a QR code. "
        + "Scanning it shows who you are joining, then lets you sign up or sign in.")),
      viewer,
      status,
      problem,
      h("div.actions", startButton, stopButton),
      h("h2", t("Or type the code")),
      form,
      ctx.user ? null : h("p", t("Joined already? "), h("a", { href: "#/signin" }, t("Sign in")), "."));

    return { node, cleanup: () => stop() };
  },
};
