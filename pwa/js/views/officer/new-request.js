// A new footage request: the incident point (GPS, a map tap, or typed coordinates), a
// radius and a time window shown against the agency's limits, the case details owners
// read, and the live count of cameras that would be asked before anything is sent.
//
// Over a limit the request still goes out — to a supervisor first, with the officer's
// justification; the screen says so before sending, not after. So does a re-ask: a request
// that would ask again owners who declined or did not answer an overlapping one (the
// preview counts them).
//
// Every request states its purpose: the legal basis (a warrant's number and court, or the
// exigent circumstances), an offense category of the agency's list, and the officer's
// affirmation that none of the agency's prohibited purposes applies (listed on the form).

import { get, post } from "../../api.js";
import { clearErrors, setBusy, showErrors } from "../../forms.js";
import { afterFirstPaint, debounce } from "../../timing.js";
import { field, formError, h } from "../../ui.js";
import {
  agencyPolicy, formatCoordinates, formatMetres, formatMinutes, localInputToIso, parseCoordinate,
  toLocalInput,
} from "./common.js";
import { N_, t, tn } from "../../i18n.js";

const INCIDENT_TYPES = ["burglary", "theft", t("vehicle theft"), "robbery", "assault", "vandalism", t("hit and run"),
  "shooting", t("missing person"), "fraud"];
const DEFAULT_WINDOW_MINUTES = 60;
const HARD_MAX_RADIUS = 5000;
// The map module (and through it Leaflet and the map settings) is loaded once the form is
// drawn: kept out of the modules the screen waits for, it no longer delays the first paint.
const mapModule = () => import("../../map.js");

export default {
  title: N_("New request"),
  async render(ctx) {
    const policy = await agencyPolicy();
    if (!ctx.current) {
      return null;
    }
    const maxRadius = policy ? policy.max_radius_m : 500;
    const maxWindow = policy ? policy.max_window_minutes : 120;
    const sliderMax = Math.min(HARD_MAX_RADIUS, Math.max(maxRadius * 4, 1000));
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || t("this device's time zone");

    let point = null; // {lat, lon}
    let map = null;
    let pin = null;
    let circle = null;
    let cameraLayers = [];
    let closed = false;
    let previewTicket = 0;
    let reAsks = 0; // cameras the preview says this request would ask again

    // --- controls --------------------------------------------------------------------------

    const latInput = h("input", { id: "req-latitude", name: "latitude", type: "text", inputMode: "decimal",
      autocomplete: "off", spellcheck: false, placeholder: "43.04170" });
    const lonInput = h("input", { id: "req-longitude", name: "longitude", type: "text", inputMode: "decimal",
      autocomplete: "off", spellcheck: false, placeholder: "-87.90950" });
    const locateButton = h("button", { type: "button" }, t("Use my location"));
    // There from the start (disabled until the map is): the map loads after the form, and a
    // button appearing then would move everything below it.
    const centreButton = h("button", { type: "button", disabled: true }, t("Use the map centre"));
    const locateStatus = h("p.hint", { role: "status" });
    const mapBox = h("div.map.map-officer.map-request", { role: "region", "aria-label":
      t("Map: tap to place the incident point. The coordinates fields below do the same.") });

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
    const reAskWarning = h("p.limit-warning.re-ask-warning", { hidden: true });

    const caseInput = h("input", { id: "req-case", name: "case_number", type: "text", required: true,
      maxLength: 64, autocomplete: "off", spellcheck: false });
    const typeInput = h("input", { id: "req-type", name: "incident_type", type: "text", required: true,
      maxLength: 64, autocomplete: "off", list: "req-type-list" });
    const typeList = h("datalist", { id: "req-type-list" }, INCIDENT_TYPES.map((type) => h("option", { value: type })));
    const summaryInput = h("textarea", { id: "req-summary", name: "summary", required: true, maxLength: 1000,
      rows: 4 });
    // --- purpose and legal basis ------------------------------------------------------------------
    const categories = policy && policy.offense_categories ? policy.offense_categories : [];
    const prohibited = policy && policy.prohibited_purposes ? policy.prohibited_purposes : [];
    const basisInput = h("select", { id: "req-basis", name: "legal_basis", required: true },
      h("option", { value: "" }, t("Choose the legal basis")),
      h("option", { value: "voluntary" }, t("Voluntary request (owners may say no)")),
      h("option", { value: "warrant" }, t("Warrant")),
      h("option", { value: "exigent" }, t("Exigent circumstances")));
    const warrantNumberInput = h("input", { id: "req-warrant-number", name: "warrant_number", type: "text",
      maxLength: 64, autocomplete: "off", spellcheck: false });
    const warrantCourtInput = h("input", { id: "req-warrant-court", name: "warrant_court", type: "text",
      maxLength: 200, autocomplete: "off" });
    const exigentInput = h("textarea", { id: "req-exigent", name: "exigent_reason", maxLength: 1000, rows: 3 });
    const warrantFields = h("div.conditional",
      field(t("Warrant number"), warrantNumberInput),
      field(t("Issuing court"), warrantCourtInput, { hint: t("Owners see the court, not the number.") }));
    const exigentField = field(t("The exigent circumstances"), exigentInput, {
      hint: t("What emergency makes this urgent. Supervisors and oversight read it; owners do not.") });
    const categoryInput = h("select", { id: "req-category", name: "offense_category", required: true },
      h("option", { value: "" }, t("Choose the offense category")),
      categories.map((category) => h("option", { value: category.key }, category.label)));
    const affirmInput = h("input", { id: "req-affirm", name: "affirm_no_prohibited_purpose", type: "checkbox",
      "aria-describedby": "req-prohibited req-affirm-error" });

    function drawBasis() {
      warrantFields.hidden = basisInput.value !== "warrant";
      exigentField.hidden = basisInput.value !== "exigent";
      warrantNumberInput.required = warrantCourtInput.required = !warrantFields.hidden;
      exigentInput.required = !exigentField.hidden;
    }
    basisInput.addEventListener("change", drawBasis);
    drawBasis();

    const justificationInput = h("textarea", { id: "req-justification", name: "justification", maxLength: 1000,
      rows: 3 });
    const justificationField = field(t("Justification for the supervisor"), justificationInput, {
      hint: t("This request is over your agency's limits: say why it is needed. A supervisor reads it, " +
        "decides, and the override is counted publicly.") });
    justificationField.hidden = true;

    // The live count: a polite live region whose text changes only when a count is known.
    const countValue = h("p.match-count-value", t("Set the incident point to see how many cameras match."));
    const countNote = h("p.hint.match-count-note");
    const countRegion = h("div.match-count", { id: "req-count", role: "status", "aria-live": "polite",
      "aria-atomic": "true" }, countValue, countNote);
    const countBusy = h("p.hint.match-count-busy", { "aria-hidden": "true", hidden: true }, t("Counting cameras…"));

    const submitButton = h("button.primary", { type: "submit" }, t("Send request"));

    const form = h("form.request-form", { novalidate: true },
      formError(),
      h("fieldset",
        h("legend", t("Incident location")),
        h("div.actions", locateButton, centreButton),
        locateStatus,
        mapBox,
        h("div.coordinates",
          field(t("Latitude"), latInput),
          field(t("Longitude"), lonInput)),
        h("p.hint", t("Tap the map, use your location, or type the coordinates (decimal degrees)."))),
      h("fieldset",
        h("legend", t("Radius and time window")),
        h("div.field",
          h("label", { for: "req-radius" }, t("Radius"), " ", radiusOutput),
          h("p.hint", { id: "req-radius-hint" },
            t("Up to %(radius)s without a supervisor's approval (at most %(hard_max)s).",
              { radius: formatMetres(maxRadius), hard_max: formatMetres(HARD_MAX_RADIUS) })),
          radiusInput,
          radiusWarning,
          h("p.field-error", { id: "req-radius-error", hidden: true })),
        field(t("From"), startInput, {
          hint: t("Times on this device (%(zone)s). Up to %(window)s without a supervisor's approval.",
            { zone, window: formatMinutes(maxWindow) }) }),
        field(t("To"), endInput),
        windowLength,
        windowWarning,
        reAskWarning),
      h("fieldset",
        h("legend", t("Case details")),
        field(t("Case number"), caseInput),
        field(t("Incident type"), typeInput, { hint: t("For example: burglary, hit and run.") }),
        typeList,
        field(t("Summary for camera owners"), summaryInput, {
          hint: t("Owners read this: say what happened and what to look for. No names of victims or suspects.") }),
        justificationField),
      h("fieldset.purpose",
        h("legend", t("Purpose and legal basis")),
        field(t("Legal basis"), basisInput, { hint: t("Owners see the legal basis and the offense category.") }),
        warrantFields,
        exigentField,
        field(t("Offense category"), categoryInput),
        h("div.field.attest",
          h("p", { id: "req-prohibited-intro" }, t("Your agency prohibits requests for these purposes:")),
          h("ul.prohibited-purposes", { id: "req-prohibited", "aria-labelledby": "req-prohibited-intro" },
            prohibited.map((text) => h("li", text))),
          h("label.check", { for: "req-affirm" }, affirmInput,
            ` ${t("I affirm that none of these purposes applies to this request.")}`),
          h("p.field-error", { id: "req-affirm-error", hidden: true }))),
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
      if (reAsks > 0) { // as the last preview counted them: the next one corrects it
        limits.push("re_ask");
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
        ? t("%(radius)s is over your agency's %(limit)s limit: a supervisor must approve this request, with your "
          + "justification below.", { radius: formatMetres(value), limit: formatMetres(maxRadius) })
        : "";
      const minutes = windowMinutes();
      windowLength.textContent = minutes === null ? t("Choose when the window starts and ends.")
        : minutes <= 0 ? t("The window must end after it starts.")
          : t("Window: %(window)s.", { window: formatMinutes(minutes) });
      const overWindow = limits.includes("window");
      windowWarning.hidden = !overWindow;
      windowWarning.textContent = overWindow
        ? t("%(window)s is longer than your agency's %(limit)s limit: a supervisor must approve this request, with "
          + "your justification below.", { window: formatMinutes(minutes), limit: formatMinutes(maxWindow) })
        : "";
      const reAskNote = reAskWarning;
      reAskNote.hidden = !limits.includes("re_ask");
      reAskNote.textContent = reAskNote.hidden ? ""
        : tn("%(count)s camera's owner declined or did not answer an overlapping request in the last 30 days: a "
          + "supervisor must approve asking again, with your justification below.",
        "%(count)s cameras' owners declined or did not answer an overlapping request in the last 30 days: a "
          + "supervisor must approve asking them again, with your justification below.", reAsks);
      const over = limits.length > 0;
      justificationField.hidden = !over;
      justificationInput.required = over;
      submitButton.textContent = over ? t("Send to a supervisor for approval") : t("Send request");
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
      if (!preview) {
        data.legal_basis = basisInput.value;
        data.offense_category = categoryInput.value;
        data.affirm_no_prohibited_purpose = affirmInput.checked;
        if (basisInput.value === "warrant") {
          data.warrant_number = warrantNumberInput.value.trim();
          data.warrant_court = warrantCourtInput.value.trim();
        }
        if (basisInput.value === "exigent") {
          data.exigent_reason = exigentInput.value.trim();
        }
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
        setCount(t("Set the incident point to see how many cameras match."));
        return;
      }
      const data = body({ preview: true });
      if (!data.window_start || !data.window_end) {
        countBusy.hidden = true;
        setCount(t("Choose the time window to see how many cameras match."));
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
        reAsks = answer.data.re_ask_cameras || 0;
        drawLimits(limits);
        countRegion.dataset.cameras = String(cameras);
        setCount(cameras === 1 ? t("1 camera matches") : t("%(cameras)s cameras match", { cameras }),
          (cameras === 0 ? t("No registered camera shared with your agency holds video of that place and time. ") : "") +
          (needsApproval ? t("Over a limit: a supervisor must approve before owners are asked.") : ""));
      } else if (answer.error.fields) {
        delete countRegion.dataset.cameras;
        const messages = Object.entries(answer.error.fields)
          .map(([name, list]) => `${FIELD_WORDS[name] || name}: ${list.join(" ")}`);
        setCount(t("No count yet: check the values below."), messages.join(" "));
      } else {
        delete countRegion.dataset.cameras;
        setCount(t("The count could not be checked."), answer.error.message);
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
        map.camera(camera.latitude, camera.longitude, camera.bearing, t("Camera, %(distance)s away",
          { distance: formatMetres(camera.distance_m) })));
    }, 500);

    function drawPoint({ pan }) {
      if (!map || !point) {
        return;
      }
      if (pin) {
        pin.setLatLng([point.lat, point.lon]);
      } else {
        pin = map.pin(point.lat, point.lon, { label: t("Incident point"), draggable: true,
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
        ctx.announce(t("Incident point set at %(point)s.", { point: formatCoordinates(lat, lon) }));
      }
      refreshCount();
      showNearby();
    }

    // The form first, the map after: Leaflet is the largest download of the screen.
    (async () => {
      await afterFirstPaint(mapBox);
      if (closed) {
        return;
      }
      const { createMap, mapSettings } = await mapModule();
      const settings = await mapSettings();
      const controller = await createMap(mapBox, {
        center: settings.center, zoom: settings.zoom,
        onTap: (lat, lon) => setPoint(lat, lon, { source: "map" }),
      });
      if (closed) {
        controller?.remove();
        return;
      }
      map = controller;
      centreButton.hidden = !map;
      if (map) {
        centreButton.disabled = false;
        mapBox.dataset.ready = "true";
        drawPoint({ pan: true });
        showNearby();
      }
    })().catch(() => {
      centreButton.hidden = true; // no map module (offline before it was cached): the fields still work
    });

    // --- events --------------------------------------------------------------------------------

    locateButton.addEventListener("click", async () => {
      locateButton.disabled = true;
      locateStatus.textContent = t("Finding your location…");
      const position = await (await mapModule()).currentPosition();
      locateButton.disabled = false;
      if (closed) {
        return;
      }
      if (!position) {
        locateStatus.textContent = t("Your location is not available (permission refused or no GPS fix). " +
          "Tap the map or type the coordinates instead.");
        return;
      }
      locateStatus.textContent = position.accuracy >= 1
        ? t("Incident point set to your location (accurate to about %(metres)s m).",
          { metres: Math.round(position.accuracy) })
        : t("Incident point set to your location.");
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
          [t("Set the incident point: tap the map, use your location, or type the coordinates.")];
      }
      if (!justificationField.hidden && !data.justification) {
        problems.justification = [exceeded().every((limit) => limit === "re_ask")
          ? t("Say why these owners must be asked again.")
          : t("Say why this request needs more than your agency's limits.")];
      }
      // The purpose fields are checked by the server, whose answer names each one beside the
      // other fields' problems (case number, summary…) in one go.
      if (Object.keys(problems).length) {
        showErrors(form, { message: t("Please check the fields marked below."), fields: problems });
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
        ? t("Request saved: it waits for a supervisor's approval.")
        : tn("Request sent: %(count)s camera asked.", "Request sent: %(count)s cameras asked.", created.asks_total));
      ctx.navigate(`/officer/requests/${created.id}`);
    });

    drawLimits();
    const node = h("section.officer",
      h("h1", t("New footage request")),
      policy ? null : h("p.alert", t("Your agency's limits could not be loaded; the defaults are shown.")),
      h("p.lead", t("Owners near the incident are asked for footage of the time window. " +
        "You see how many cameras match before sending, and only counts afterwards — never who answered.")),
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
  latitude: t("Latitude"), longitude: t("Longitude"), radius_m: t("Radius"), window_start: t("From"), window_end: t("To"),
  case_number: t("Case number"), incident_type: t("Incident type"), summary: t("Summary"), justification: t("Justification"),
  legal_basis: t("Legal basis"), warrant_number: t("Warrant number"), warrant_court: t("Issuing court"),
  exigent_reason: t("The exigent circumstances"), offense_category: t("Offense category"),
  affirm_no_prohibited_purpose: t("Affirmation"),
};
