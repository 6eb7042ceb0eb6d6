// A new footage request: the incident point (GPS, a map tap, or typed coordinates), a
// radius and a time window shown against the agency's limits, the case details owners
// read, and the live count of cameras that would be asked before anything is sent.
//
// Over a limit the request still goes out — to a supervisor first, with the officer's
// justification; the screen says so before sending, not after.

import { get, post } from "../../api.js";
import { clearErrors, setBusy, showErrors } from "../../forms.js";
import { createMap, currentPosition, mapSettings } from "../../map.js";
import { debounce } from "../../timing.js";
import { field, formError, h } from "../../ui.js";
import {
  agencyPolicy, formatCoordinates, formatMetres, formatMinutes, localInputToIso, parseCoordinate,
  toLocalInput,
} from "./common.js";

const INCIDENT_TYPES = ["burglary", "theft", "vehicle theft", "robbery", "assault", "vandalism", "hit and run",
  "shooting", "missing person", "fraud"];
const DEFAULT_WINDOW_MINUTES = 60;
const HARD_MAX_RADIUS = 5000;

export default {
  title: "New request",
  async render(ctx) {
    const policy = await agencyPolicy();
    if (!ctx.current) {
      return null;
    }
    const maxRadius = policy ? policy.max_radius_m : 500;
    const maxWindow = policy ? policy.max_window_minutes : 120;
    const sliderMax = Math.min(HARD_MAX_RADIUS, Math.max(maxRadius * 4, 1000));
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "this device's time zone";

    let point = null; // {lat, lon}
    let map = null;
    let pin = null;
    let circle = null;
    let cameraLayers = [];
    let closed = false;
    let previewTicket = 0;

    // --- controls --------------------------------------------------------------------------

    const latInput = h("input", { id: "req-latitude", name: "latitude", type: "text", inputMode: "decimal",
      autocomplete: "off", spellcheck: false, placeholder: "43.04170" });
    const lonInput = h("input", { id: "req-longitude", name: "longitude", type: "text", inputMode: "decimal",
      autocomplete: "off", spellcheck: false, placeholder: "-87.90950" });
    const locateButton = h("button", { type: "button" }, "Use my location");
    const centreButton = h("button", { type: "button", hidden: true }, "Use the map centre");
    const locateStatus = h("p.hint", { role: "status" });
    const mapBox = h("div.map.map-officer.map-request", { role: "region", "aria-label":
      "Map: tap to place the incident point. The coordinates fields below do the same." });

    const radiusInput = h("input", { id: "req-radius", name: "radius_m", type: "range", min: 10, max: sliderMax,
      step: 10, value: String(Math.min(250, maxRadius)) });
    const radiusOutput = h("output.range-value", { for: "req-radius", "aria-hidden": "true" });
    const radiusWarning = h("p.limit-warning", { hidden: true });

    const now = new Date();
    now.setSeconds(0, 0);
    const startInput = h("input", { id: "req-start", name: "window_start", type: "datetime-local", required: true,
      max: toLocalInput(now),
      value: toLocalInput(new Date(now.getTime() - Math.min(DEFAULT_WINDOW_MINUTES, maxWindow) * 60000)) });
    const endInput = h("input", { id: "req-end", name: "window_end", type: "datetime-local", required: true,
      max: toLocalInput(now), value: toLocalInput(now) });
    const windowLength = h("p.window-length");
    const windowWarning = h("p.limit-warning", { hidden: true });

    const caseInput = h("input", { id: "req-case", name: "case_number", type: "text", required: true,
      maxLength: 64, autocomplete: "off", spellcheck: false });
    const typeInput = h("input", { id: "req-type", name: "incident_type", type: "text", required: true,
      maxLength: 64, autocomplete: "off", list: "req-type-list" });
    const typeList = h("datalist", { id: "req-type-list" }, INCIDENT_TYPES.map((type) => h("option", { value: type })));
    const summaryInput = h("textarea", { id: "req-summary", name: "summary", required: true, maxLength: 1000,
      rows: 4 });
    const justificationInput = h("textarea", { id: "req-justification", name: "justification", maxLength: 1000,
      rows: 3 });
    const justificationField = field("Justification for the supervisor", justificationInput, {
      hint: "This request is over your agency's limits: say why it is needed. A supervisor reads it, " +
        "decides, and the override is counted publicly." });
    justificationField.hidden = true;

    // The live count: a polite live region whose text changes only when a count is known.
    const countValue = h("p.match-count-value", "Set the incident point to see how many cameras match.");
    const countNote = h("p.hint.match-count-note");
    const countRegion = h("div.match-count", { id: "req-count", role: "status", "aria-live": "polite",
      "aria-atomic": "true" }, countValue, countNote);
    const countBusy = h("p.hint.match-count-busy", { "aria-hidden": "true", hidden: true }, "Counting cameras…");

    const submitButton = h("button.primary", { type: "submit" }, "Send request");

    const form = h("form.request-form", { novalidate: true },
      formError(),
      h("fieldset",
        h("legend", "Incident location"),
        h("div.actions", locateButton, centreButton),
        locateStatus,
        mapBox,
        h("div.coordinates",
          field("Latitude", latInput),
          field("Longitude", lonInput)),
        h("p.hint", "Tap the map, use your location, or type the coordinates (decimal degrees).")),
      h("fieldset",
        h("legend", "Radius and time window"),
        h("div.field",
          h("label", { for: "req-radius" }, "Radius ", radiusOutput),
          h("p.hint", { id: "req-radius-hint" },
            `Up to ${formatMetres(maxRadius)} without a supervisor's approval (at most ${formatMetres(HARD_MAX_RADIUS)}).`),
          radiusInput,
          radiusWarning,
          h("p.field-error", { id: "req-radius-error", hidden: true })),
        field("From", startInput, {
          hint: `Times on this device (${zone}). Up to ${formatMinutes(maxWindow)} without a supervisor's approval.` }),
        field("To", endInput),
        windowLength,
        windowWarning),
      h("fieldset",
        h("legend", "Case details"),
        field("Case number", caseInput),
        field("Incident type", typeInput, { hint: "For example: burglary, hit and run." }),
        typeList,
        field("Summary for camera owners", summaryInput, {
          hint: "Owners read this: say what happened and what to look for. No names of victims or suspects." }),
        justificationField),
      countRegion,
      countBusy,
      submitButton);
    radiusInput.setAttribute("aria-describedby", "req-radius-hint req-radius-error");

    // --- derived state ------------------------------------------------------------------------

    function radius() {
      return Number(radiusInput.value);
    }

    function windowMinutes() {
      const start = localInputToIso(startInput.value);
      const end = localInputToIso(endInput.value);
      return start && end ? (new Date(end) - new Date(start)) / 60000 : null;
    }

    function exceeded() {
      const limits = [];
      if (radius() > maxRadius) {
        limits.push("radius");
      }
      const minutes = windowMinutes();
      if (minutes !== null && minutes > maxWindow) {
        limits.push("window");
      }
      return limits;
    }

    function drawLimits(serverExceeded) {
      const limits = serverExceeded || exceeded();
      const value = radius();
      radiusOutput.textContent = formatMetres(value);
      radiusInput.setAttribute("aria-valuetext", `${formatMetres(value)}${value > maxRadius ? ", over the limit" : ""}`);
      const overRadius = limits.includes("radius");
      radiusWarning.hidden = !overRadius;
      radiusWarning.textContent = overRadius
        ? `${formatMetres(value)} is over your agency's ${formatMetres(maxRadius)} limit: ` +
          "a supervisor must approve this request, with your justification below."
        : "";
      const minutes = windowMinutes();
      windowLength.textContent = minutes === null ? "Choose when the window starts and ends."
        : minutes <= 0 ? "The window must end after it starts."
          : `Window: ${formatMinutes(minutes)}.`;
      const overWindow = limits.includes("window");
      windowWarning.hidden = !overWindow;
      windowWarning.textContent = overWindow
        ? `${formatMinutes(minutes)} is longer than your agency's ${formatMinutes(maxWindow)} limit: ` +
          "a supervisor must approve this request, with your justification below."
        : "";
      const over = limits.length > 0;
      justificationField.hidden = !over;
      justificationInput.required = over;
      submitButton.textContent = over ? "Send to a supervisor for approval" : "Send request";
      return limits;
    }

    // The request body; the preview needs only where and when (the server ignores the rest).
    function body({ preview = false } = {}) {
      const data = {
        latitude: point ? point.lat : parseCoordinate(latInput.value, 90),
        longitude: point ? point.lon : parseCoordinate(lonInput.value, 180),
        radius_m: radius(),
        window_start: localInputToIso(startInput.value),
        window_end: localInputToIso(endInput.value),
        case_number: caseInput.value.trim(),
        incident_type: typeInput.value.trim(),
        summary: summaryInput.value.trim(),
      };
      if (!preview && !justificationField.hidden && justificationInput.value.trim()) {
        data.justification = justificationInput.value.trim();
      }
      for (const key of Object.keys(data)) {
        if (data[key] === null || data[key] === "") {
          delete data[key];
        }
      }
      return data;
    }

    // --- the live count ------------------------------------------------------------------------

    function setCount(text, note = "") {
      if (countValue.textContent !== text) {
        countValue.textContent = text;
      }
      countNote.textContent = note;
      countNote.hidden = !note;
    }

    const refreshCount = debounce(async () => {
      const ticket = ++previewTicket;
      if (!point) {
        countBusy.hidden = true;
        setCount("Set the incident point to see how many cameras match.");
        return;
      }
      const data = body({ preview: true });
      if (!data.window_start || !data.window_end) {
        countBusy.hidden = true;
        setCount("Choose the time window to see how many cameras match.");
        return;
      }
      countBusy.hidden = false;
      const answer = await post("/api/requests/preview", data);
      if (closed || ticket !== previewTicket) {
        return;
      }
      countBusy.hidden = true;
      if (answer.ok) {
        const { cameras, exceeded_limits: limits, needs_approval: needsApproval } = answer.data;
        drawLimits(limits);
        countRegion.dataset.cameras = String(cameras);
        setCount(cameras === 1 ? "1 camera matches" : `${cameras} cameras match`,
          (cameras === 0 ? "No registered camera shared with your agency holds video of that place and time. " : "") +
          (needsApproval ? "Over a limit: a supervisor must approve before owners are asked." : ""));
      } else if (answer.error.fields) {
        delete countRegion.dataset.cameras;
        const messages = Object.entries(answer.error.fields)
          .map(([name, list]) => `${FIELD_WORDS[name] || name}: ${list.join(" ")}`);
        setCount("No count yet: check the values below.", messages.join(" "));
      } else {
        delete countRegion.dataset.cameras;
        setCount("The count could not be checked.", answer.error.message);
      }
    }, 400);

    // --- the map -------------------------------------------------------------------------------

    const showNearby = debounce(async () => {
      if (!map || !point) {
        return;
      }
      const searchRadius = Math.min(HARD_MAX_RADIUS, radius() + 250);
      const answer = await get(`/api/agency/cameras/nearby?lat=${point.lat}&lon=${point.lon}&radius_m=${searchRadius}`);
      if (closed || !map || !answer.ok) {
        return;
      }
      cameraLayers.forEach((layer) => layer.remove());
      cameraLayers = answer.data.cameras.map((camera) =>
        map.camera(camera.latitude, camera.longitude, camera.bearing, `Camera, ${formatMetres(camera.distance_m)} away`));
    }, 500);

    function drawPoint({ pan }) {
      if (!map || !point) {
        return;
      }
      if (pin) {
        pin.setLatLng([point.lat, point.lon]);
      } else {
        pin = map.pin(point.lat, point.lon, { label: "Incident point", draggable: true,
          onMove: (lat, lon) => setPoint(lat, lon, { source: "drag" }) });
      }
      if (circle) {
        circle.setLatLng([point.lat, point.lon]);
        circle.setRadius(radius());
      } else {
        circle = map.circle(point.lat, point.lon, radius());
      }
      if (pan) {
        map.map.panTo([point.lat, point.lon]);
      }
    }

    function setPoint(lat, lon, { source }) {
      point = { lat, lon };
      if (source !== "typed") {
        latInput.value = lat.toFixed(6);
        lonInput.value = lon.toFixed(6);
        latInput.removeAttribute("aria-invalid");
        lonInput.removeAttribute("aria-invalid");
      }
      drawPoint({ pan: source === "gps" || source === "typed" });
      if (source === "map" || source === "drag" || source === "centre") {
        ctx.announce(`Incident point set at ${formatCoordinates(lat, lon)}.`);
      }
      refreshCount();
      showNearby();
    }

    mapSettings().then((settings) => createMap(mapBox, {
      center: settings.center, zoom: settings.zoom,
      onTap: (lat, lon) => setPoint(lat, lon, { source: "map" }),
    })).then((controller) => {
      if (closed) {
        controller?.remove();
        return;
      }
      map = controller;
      if (map) {
        centreButton.hidden = false;
        mapBox.dataset.ready = "true";
        drawPoint({ pan: true });
        showNearby();
      }
    });

    // --- events --------------------------------------------------------------------------------

    locateButton.addEventListener("click", async () => {
      locateButton.disabled = true;
      locateStatus.textContent = "Finding your location…";
      const position = await currentPosition();
      locateButton.disabled = false;
      if (closed) {
        return;
      }
      if (!position) {
        locateStatus.textContent = "Your location is not available (permission refused or no GPS fix). " +
          "Tap the map or type the coordinates instead.";
        return;
      }
      locateStatus.textContent = "Incident point set to your location" +
        (position.accuracy >= 1 ? ` (accurate to about ${Math.round(position.accuracy)} m).` : ".");
      setPoint(position.lat, position.lon, { source: "gps" });
    });

    centreButton.addEventListener("click", () => {
      if (map) {
        const centre = map.map.getCenter();
        setPoint(centre.lat, centre.lng, { source: "centre" });
      }
    });

    const typed = () => {
      const lat = parseCoordinate(latInput.value, 90);
      const lon = parseCoordinate(lonInput.value, 180);
      if (lat !== null && lon !== null) {
        setPoint(lat, lon, { source: "typed" });
      } else {
        point = null;
        refreshCount();
      }
    };
    latInput.addEventListener("change", typed);
    lonInput.addEventListener("change", typed);

    radiusInput.addEventListener("input", () => {
      drawLimits();
      if (circle) {
        circle.setRadius(radius());
      }
      refreshCount();
      showNearby();
    });
    for (const input of [startInput, endInput]) {
      input.addEventListener("input", () => {
        drawLimits();
        refreshCount();
      });
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const data = body();
      const problems = {};
      if (data.latitude === undefined || data.longitude === undefined) {
        problems[data.latitude === undefined ? "latitude" : "longitude"] =
          ["Set the incident point: tap the map, use your location, or type the coordinates."];
      }
      if (!justificationField.hidden && !data.justification) {
        problems.justification = ["Say why this request needs more than your agency's limits."];
      }
      if (Object.keys(problems).length) {
        showErrors(form, { message: "Please check the fields marked below.", fields: problems });
        return;
      }
      setBusy(form, true);
      const answer = await post("/api/requests", data);
      setBusy(form, false);
      if (closed) {
        return;
      }
      if (!answer.ok) {
        if (answer.error.fields && answer.error.fields.justification) {
          justificationField.hidden = false;
        }
        showErrors(form, answer.error);
        return;
      }
      const created = answer.data;
      ctx.announce(created.status === "pending_approval"
        ? "Request saved: it waits for a supervisor's approval."
        : `Request sent: ${created.asks_total} camera${created.asks_total === 1 ? "" : "s"} asked.`);
      ctx.navigate(`/officer/requests/${created.id}`);
    });

    drawLimits();
    const node = h("section.officer",
      h("h1", "New footage request"),
      policy ? null : h("p.alert", "Your agency's limits could not be loaded; the defaults are shown."),
      h("p.lead", "Owners near the incident are asked for footage of the time window. ",
        "You see how many cameras match before sending, and only counts afterwards — never who answered."),
      form);
    return {
      node,
      cleanup() {
        closed = true;
        refreshCount.cancel();
        showNearby.cancel();
        if (map) {
          map.remove();
          map = null;
        }
      },
    };
  },
};

const FIELD_WORDS = {
  latitude: "Latitude", longitude: "Longitude", radius_m: "Radius", window_start: "From", window_end: "To",
  case_number: "Case number", incident_type: "Incident type", summary: "Summary", justification: "Justification",
};
