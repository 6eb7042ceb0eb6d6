// Add or edit a camera: label, location (my location, a draggable pin, a map tap, or
// typed coordinates — the fields work without the map), direction, field of view,
// how long the recorder keeps video, its recorder's clock (recorder-clock.js: a new reading,
// or forgetting the one kept), weekly blackout hours, the agencies it is shared with, and
// the owner's attestation that it films only public space.
//
// Right after the first camera (or when the owner arrives from enrollment, ?welcome=1)
// the screen offers push notifications, saying why: that is when asking makes sense.

import { del, get, patch, post } from "../../api.js";
import { clearErrors, setBusy, showErrors } from "../../forms.js";
import { bearingText, createMap, currentPosition } from "../../map.js";
import { homeScreenGuide, needsHomeScreen } from "../../ios-install.js";
import { enablePush, pushState, pushSupported } from "../../push.js";
import { offsetText, recorderClockField } from "../../recorder-clock.js";
import { confirmInPlace, errorCard, field, formatDateTime, formError, h, time } from "../../ui.js";
import { DAYS } from "./common.js";
import { N_, t } from "../../i18n.js";

const COMPASS = [[N_("N"), N_("north"), 0], [N_("NE"), N_("north-east"), 45], [N_("E"), N_("east"), 90],
  [N_("SE"), N_("south-east"), 135], [N_("S"), N_("south"), 180], [N_("SW"), N_("south-west"), 225],
  [N_("W"), N_("west"), 270], [N_("NW"), N_("north-west"), 315]];

function numberOrNull(text) {
  if (text === undefined || text === null || String(text).trim() === "") {
    return null;
  }
  const value = Number(String(text).trim().replace(",", "."));
  return Number.isFinite(value) ? value : NaN;
}

function uniqueAgencies(user) {
  const seen = new Map();
  for (const m of user.memberships || []) {
    if (!seen.has(m.agency_id)) {
      seen.set(m.agency_id, m.agency_name);
    }
  }
  return Array.from(seen, ([id, name]) => ({ id, name }));
}

// --- the push offer after adding a camera ------------------------------------------------

function pushOffer(ctx) {
  const status = h("p.push-status", { role: "status", "aria-live": "polite" });
  const button = h("button.primary", { type: "button" }, t("Turn on notifications"));
  const box = h("section.card.push-offer", { "aria-labelledby": "push-offer-title" },
    h("h2", { id: "push-offer-title" }, t("Hear about requests")),
    h("p", t("Turn on notifications so you hear when an officer asks for footage near your camera. "
      + "You answer each request yourself — nothing is shared without your answer.")),
    button,
    status);
  if (needsHomeScreen()) {
    button.replaceWith(homeScreenGuide());
    return box;
  }
  if (!pushSupported()) {
    button.hidden = true;
    status.textContent = t("This browser cannot show push notifications. Verify your mobile number in Settings "
      + "to get a text message instead.");
    return box;
  }
  pushState().then((current) => {
    if (current.state === "enabled") {
      button.hidden = true;
      status.textContent = t("Notifications are already on for this device.");
    } else if (current.state === "denied") {
      status.textContent = current.message + t(" You can also verify your mobile number in Settings to get texts.");
    }
  });
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = t("Turning on notifications…");
    const result = await enablePush();
    button.disabled = false;
    status.textContent = result.message;
    if (result.ok) {
      button.hidden = true;
      ctx.announce(result.message);
    }
  });
  return box;
}

function addedScreen(ctx, camera, offerPush) {
  const names = uniqueAgencies(ctx.user).filter((a) => (camera.shared_agency_ids || []).includes(a.id))
    .map((a) => a.name);
  return h("section.camera-added",
    h("div.success",
      h("h1", t("Camera added")),
      h("p", names.length
        ? t("“%(label)s” is registered and shared with %(agencies)s.", { label: camera.label, agencies: names.join(", ") })
        : t("“%(label)s” is registered. It is not shared with any agency yet.", { label: camera.label }))),
    offerPush ? pushOffer(ctx) : null,
    h("div.actions",
      h("a.button", { href: "#/cameras/new" }, t("Add another camera")),
      h("a.button", { href: "#/inbox" }, t("Go to your inbox"))));
}

// --- the form --------------------------------------------------------------------------------

export default {
  title: N_("Camera"),
  async render(ctx) {
    const editing = ctx.params.id !== undefined;
    const welcome = ctx.query.get("welcome") === "1";
    let camera = null;
    let cameraCount = 0;
    if (editing) {
      if (!/^\d+$/.test(ctx.params.id)) {
        return h("section", h("h1", t("Camera not found")), h("p", h("a", { href: "#/cameras" }, t("Your cameras"))));
      }
      const answer = await get(`/api/cameras/${ctx.params.id}`);
      if (!answer.ok) {
        return h("section", h("h1", answer.status === 404 ? t("Camera not found") : t("Edit camera")),
          answer.status === 404 ? h("p", t("There is no camera with this number in your account."))
            : errorCard(answer.error, () => ctx.navigate(`/cameras/${ctx.params.id}`)),
          h("p", h("a", { href: "#/cameras" }, t("Your cameras"))));
      }
      camera = answer.data;
    } else {
      const list = await get("/api/cameras");
      cameraCount = list.ok ? list.data.length : 0;
    }

    const agencies = uniqueAgencies(ctx.user);
    let bearing = camera ? camera.bearing : null;
    let mapController = null;
    let marker = null;
    let direction = null;
    let blackouts = camera ? camera.blackout_windows.map((w) => ({ ...w })) : [];

    // --- location ---------------------------------------------------------------------------
    const lat = h("input", { id: "camera-latitude", name: "latitude", type: "number", step: "any", min: -90, max: 90,
      inputMode: "decimal", required: true, value: camera ? String(Number(camera.latitude.toFixed(6))) : "" });
    const lon = h("input", { id: "camera-longitude", name: "longitude", type: "number", step: "any", min: -180,
      max: 180, inputMode: "decimal", required: true, value: camera ? String(Number(camera.longitude.toFixed(6))) : "" });
    const initialLat = lat.value;
    const initialLon = lon.value;
    const locateStatus = h("p.locate-status", { role: "status", "aria-live": "polite" });
    const locateButton = h("button", { type: "button" }, t("Use my location"));
    const mapBox = h("div.map.camera-map", { role: "region",
      "aria-label": t("Map of the camera’s location. Tap the map or drag the pin to place the camera.") });

    function position() {
      const la = numberOrNull(lat.value);
      const lo = numberOrNull(lon.value);
      return la === null || lo === null || Number.isNaN(la) || Number.isNaN(lo)
        || Math.abs(la) > 90 || Math.abs(lo) > 180 ? null : { lat: la, lon: lo };
    }

    function drawDirection() {
      if (!mapController) {
        return;
      }
      if (direction) {
        direction.remove();
        direction = null;
      }
      const where = position();
      if (where && bearing !== null) {
        direction = mapController.camera(where.lat, where.lon, bearing, t("Camera direction"));
      }
    }

    function placePin(center) {
      const where = position();
      if (!mapController || !where) {
        return;
      }
      if (marker) {
        marker.setLatLng([where.lat, where.lon]);
      } else {
        marker = mapController.pin(where.lat, where.lon, {
          label: t("Camera location (drag to move)"), draggable: true,
          onMove: (la, lo) => setPosition(la, lo, { center: false, source: "pin" }),
        });
      }
      if (center) {
        mapController.setView(where.lat, where.lon, Math.max(mapController.map.getZoom(), 17));
      }
      drawDirection();
    }

    function setPosition(la, lo, { center = true, source = "" } = {}) {
      lat.value = la.toFixed(6);
      lon.value = lo.toFixed(6);
      placePin(center);
      if (source === "pin" || source === "tap") {
        locateStatus.textContent = t("Camera placed at %(lat)s, %(lon)s.", { lat: la.toFixed(5), lon: lo.toFixed(5) });
      }
    }

    lat.addEventListener("change", () => placePin(true));
    lon.addEventListener("change", () => placePin(true));

    locateButton.addEventListener("click", async () => {
      locateButton.disabled = true;
      locateStatus.textContent = t("Finding your location…");
      const found = await currentPosition();
      locateButton.disabled = false;
      if (!found) {
        locateStatus.textContent = t("Your location could not be found. Allow location for this site, "
          + "or place the pin on the map, or type the coordinates.");
        return;
      }
      setPosition(found.lat, found.lon);
      locateStatus.textContent = t("Location found (accurate to about %(metres)s m). ", { metres: Math.round(found.accuracy || 0) })
        + t("Drag the pin to where the camera is if it is off.");
    });

    async function setupMap() {
      const where = position();
      mapController = await createMap(mapBox, {
        center: where ? [where.lat, where.lon] : undefined,
        zoom: where ? 18 : undefined,
        onTap: (la, lo) => setPosition(la, lo, { center: false, source: "tap" }),
      });
      if (!mapController) {
        return;
      }
      if (!ctx.current) {
        mapController.remove();
        mapController = null;
        return;
      }
      // Leaflet finds its marker images next to leaflet.css; say where in case the
      // stylesheet is still loading.
      mapController.L.Icon.Default.imagePath = "/app/vendor/images/";
      placePin(false);
    }

    // --- direction --------------------------------------------------------------------------
    const bearingRange = h("input", { id: "camera-bearing", name: "bearing", type: "range", min: 0, max: 359, step: 1,
      value: String(bearing ?? 0) });
    const bearingOut = h("output.bearing-text", { id: "camera-bearing-text", for: "camera-bearing", "aria-live": "polite" });
    const arrow = h("span.bearing-arrow", { "aria-hidden": "true" }, "↑");
    // Short letters on screen, the whole word for screen readers (name from content).
    const compassButtons = COMPASS.map(([short, name, degrees]) => h("button.compass", {
      type: "button", "aria-pressed": "false", dataset: { degrees: String(degrees) },
      onclick: () => setBearing(degrees),
    }, h("span", { "aria-hidden": "true" }, t(short)), h("span.visually-hidden", t("Faces %(name)s", { name: t(name) }))));
    const clearBearing = h("button.link", { type: "button", onclick: () => setBearing(null) }, t("Clear direction"));

    function setBearing(value, fromRange = false) {
      bearing = value === null ? null : ((Math.round(value) % 360) + 360) % 360;
      if (!fromRange) {
        bearingRange.value = String(bearing ?? 0);
      }
      bearingRange.setAttribute("aria-valuetext", bearing === null ? t("not set") : bearingText(bearing));
      bearingOut.textContent = bearing === null ? t("Direction not set") : t("Faces %(direction)s", { direction: bearingText(bearing) });
      arrow.style.setProperty("--bearing", `${bearing ?? 0}deg`);
      arrow.classList.toggle("unset", bearing === null);
      for (const button of compassButtons) {
        button.setAttribute("aria-pressed", String(Number(button.dataset.degrees) === bearing));
      }
      drawDirection();
    }
    bearingRange.addEventListener("input", () => setBearing(Number(bearingRange.value), true));

    // --- blackout hours ---------------------------------------------------------------------
    const blackoutList = h("div.blackouts");

    function drawBlackouts() {
      blackoutList.replaceChildren(...blackouts.map((window, index) => {
        const base = `camera-blackout-${index}`;
        const day = h("select", { id: `${base}-day`, name: `blackout_windows.${index}.day`,
          onchange: (e) => { window.day = Number(e.target.value); } },
        DAYS.map((name, i) => h("option", { value: String(i), selected: i === window.day }, name)));
        const start = h("input", { id: `${base}-start`, name: `blackout_windows.${index}.start`, type: "time",
          value: window.start, required: true, onchange: (e) => { window.start = e.target.value; } });
        const end = h("input", { id: `${base}-end`, name: `blackout_windows.${index}.end`, type: "time",
          value: window.end, required: true, onchange: (e) => { window.end = e.target.value; } });
        return h("fieldset.blackout",
          h("legend", t("Blackout %(number)s", { number: index + 1 })),
          field(t("Day"), day),
          h("div.time-pair", field(t("From"), start), field(t("Until"), end, { hint: t("At or before “From”: the next day.") })),
          h("button", { type: "button", onclick: () => {
            blackouts.splice(index, 1);
            drawBlackouts();
            addBlackout.focus();
          } }, t("Remove blackout %(number)s", { number: index + 1 })));
      }));
    }
    const addBlackout = h("button", { type: "button", onclick: () => {
      blackouts.push({ day: blackouts.length ? (blackouts[blackouts.length - 1].day + 1) % 7 : 0,
        start: "22:00", end: "06:00" });
      drawBlackouts();
      const last = blackoutList.querySelector("fieldset:last-child select");
      if (last) {
        last.focus();
      }
    } }, t("Add blackout hours"));

    // --- sharing and attestation ---------------------------------------------------------------
    const shared = new Set(camera ? camera.shared_agency_ids : agencies.map((a) => a.id));
    const shareBoxes = agencies.map((agency) => h("label.check",
      h("input", { type: "checkbox", name: "shared_agency_ids", value: String(agency.id), checked: shared.has(agency.id) }),
      ` ${agency.name}`));
    const attest = h("input", { id: "camera-attest", name: "public_attestation", type: "checkbox",
      checked: Boolean(camera), disabled: Boolean(camera), "aria-describedby": "camera-attest-error" });

    // --- the recorder's clock ------------------------------------------------------------------
    const knownOffset = camera && camera.recorder_offset_s !== null && camera.recorder_offset_s !== undefined
      ? camera.recorder_offset_s : null;
    const clock = recorderClockField({ id: "camera-recorder-clock", name: "recorder_offset_s", remembered: knownOffset,
      sentWith: t("this camera when you save") });
    const forget = knownOffset === null ? null
      : h("input", { id: "camera-recorder-forget", type: "checkbox", name: "recorder_forget" });
    if (forget) {
      forget.addEventListener("change", () => { clock.node.hidden = forget.checked; });
    }
    const clockSection = h("div.recorder-clock-setting",
      knownOffset === null ? null
        : h("p", camera.recorder_offset_at
          ? t("Your recorder’s clock was %(offset)s when read on %(when)s.", { offset: offsetText(knownOffset), when: formatDateTime(camera.recorder_offset_at) })
          : t("Your recorder’s clock was %(offset)s.", { offset: offsetText(knownOffset) }),
          " ", t("Requests for this camera give their time as your recorder shows it, too.")),
      clock.node,
      forget ? h("label.check", { for: "camera-recorder-forget" }, forget,
        t(" Forget it: requests then give only the real time")) : null);

    // --- the form -------------------------------------------------------------------------------
    const form = h("form.camera-form", { novalidate: true },
      formError(),
      field(t("Name"), h("input", { id: "camera-label", name: "label", type: "text", maxLength: 120, required: true,
        autocomplete: "off", value: camera ? camera.label : "", placeholder: t("Front porch") }),
      { hint: t("For you: it is what your requests will call this camera.") }),
      h("fieldset.location",
        h("legend", t("Where the camera is")),
        h("div.actions", locateButton),
        locateStatus,
        mapBox,
        h("div.coords",
          field(t("Latitude"), lat, { hint: "e.g. 43.03890" }),
          field(t("Longitude"), lon, { hint: "e.g. -87.90650" })),
        field(t("Address or note"), h("input", { id: "camera-address", name: "address", type: "text", maxLength: 300,
          autocomplete: "street-address", value: camera && camera.address ? camera.address : "" }),
        { optional: true, hint: t("Only you see it.") })),
      h("fieldset.direction",
        h("legend", t("Which way it faces")),
        h("div.compass-grid", compassButtons),
        h("div.field",
          h("label", { for: "camera-bearing" }, t("Direction in degrees (0 north, 90 east, 180 south, 270 west)")),
          bearingRange,
          h("p.bearing-line", arrow, " ", bearingOut, " ", clearBearing),
          h("p.field-error", { id: "camera-bearing-error", hidden: true }))),
      field(t("Field of view (degrees)"), h("input", { id: "camera-fov", name: "field_of_view", type: "number", min: 1,
        max: 360, step: 1, inputMode: "numeric", value: String(camera ? camera.field_of_view : 90) }),
      { hint: t("How wide it sees. Most cameras: 90 to 120.") }),
      field(t("Days your recorder keeps video"), h("input", { id: "camera-retention", name: "retention_days", type: "number",
        min: 1, max: 365, step: 1, inputMode: "numeric", required: true,
        value: camera ? String(camera.retention_days) : "" }),
      { hint: t("Before it records over old video. Officers only ask cameras that still hold the time they need.") }),
      clockSection,
      h("fieldset.blackout-hours",
        h("legend", t("Blackout hours")),
        h("p.hint", t("Weekly hours when this camera is never asked for footage, e.g. when you are home.")),
        blackoutList,
        addBlackout),
      h("fieldset.shares",
        h("legend", t("Share with")),
        agencies.length ? shareBoxes : h("p", t("You have not joined an agency yet, so no one can ask this camera. "),
          h("a", { href: "#/scan" }, t("Scan or type an enrollment code")), t(" to join.")),
        h("p.field-error", { id: "camera-shares-error", hidden: true })),
      h("div.field.attest",
        h("label.check", { for: "camera-attest" }, attest,
          t(" This camera records only what anyone could see from a street or other public place — "
          + "not inside homes or private yards.")),
        camera && camera.attested_at
          ? h("p.hint", t("You confirmed this on "), time(camera.attested_at), t(". It cannot be withdrawn: "
            + "pause or delete the camera instead.")) : null,
        h("p.field-error", { id: "camera-attest-error", hidden: true })),
      h("button.primary", { type: "submit" }, editing ? t("Save changes") : t("Add camera")));

    function body() {
      const problems = {};
      const label = form.elements.label.value.trim();
      if (!label) {
        problems.label = [t("Give the camera a name.")];
      }
      const la = numberOrNull(lat.value);
      const lo = numberOrNull(lon.value);
      if (la === null || Number.isNaN(la) || Math.abs(la) > 90) {
        problems.latitude = [la === null ? t("Set the location: use your location, tap the map or type it.") : t("Between -90 and 90.")];
      }
      if (lo === null || Number.isNaN(lo) || Math.abs(lo) > 180) {
        problems.longitude = [lo === null ? t("Set the location: use your location, tap the map or type it.") : t("Between -180 and 180.")];
      }
      const retention = numberOrNull(form.elements.retention_days.value);
      if (retention === null || !Number.isInteger(retention) || retention < 1 || retention > 365) {
        problems.retention_days = [t("A whole number of days from 1 to 365.")];
      }
      const fov = numberOrNull(form.elements.field_of_view.value);
      if (fov !== null && (!Number.isInteger(fov) || fov < 1 || fov > 360)) {
        problems.field_of_view = [t("A whole number of degrees from 1 to 360.")];
      }
      if (!editing && !attest.checked) {
        problems.public_attestation = [t("Confirm that this camera records only public space.")];
      }
      if (Object.keys(problems).length) {
        return { problems };
      }
      const data = {
        label,
        latitude: la,
        longitude: lo,
        address: form.elements.address.value.trim() || null,
        bearing,
        retention_days: retention,
        blackout_windows: blackouts.map((w) => ({ day: w.day, start: w.start, end: w.end })),
        shared_agency_ids: Array.from(form.querySelectorAll("input[name=shared_agency_ids]:checked"))
          .map((box) => Number(box.value)),
      };
      if (fov !== null) {
        data.field_of_view = fov;
      }
      if (forget && forget.checked) {
        data.recorder_offset_s = null;
      } else if (clock.offset() !== null) {
        data.recorder_offset_s = clock.offset();
      }
      if (editing && lat.value === initialLat && lon.value === initialLon) {
        // Not moved: the stored position keeps its full precision.
        delete data.latitude;
        delete data.longitude;
      }
      if (!editing) {
        data.public_attestation = true;
        if (data.address === null) {
          delete data.address;
        }
      }
      return { data };
    }

    const section = h("section.camera-edit");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const { data, problems } = body();
      if (problems) {
        showErrors(form, { message: t("Please check the fields marked below."), fields: problems });
        return;
      }
      setBusy(form, true);
      const answer = editing ? await patch(`/api/cameras/${camera.id}`, data) : await post("/api/cameras", data);
      setBusy(form, false);
      if (!answer.ok) {
        showErrors(form, answer.error);
        return;
      }
      if (editing) {
        ctx.announce(t("Camera saved."));
        ctx.navigate("/cameras");
        return;
      }
      const offer = (welcome || cameraCount === 0) && ctx.current;
      section.replaceChildren(addedScreen(ctx, answer.data, offer));
      document.title = t("Camera added · Porchlight");
      const heading = section.querySelector("h1");
      heading.setAttribute("tabindex", "-1");
      heading.focus();
      window.scrollTo(0, 0);
    });

    // --- delete (editing only) ------------------------------------------------------------------
    let danger = null;
    if (editing) {
      const remove = confirmInPlace({
        className: "delete-camera",
        label: t("Delete this camera…"),
        question: t("Delete this camera for good? Requests you already answered stay in your history."),
        yes: t("Delete camera"),
        no: t("Keep it"),
        act: () => del(`/api/cameras/${camera.id}`),
        onDone: () => {
          ctx.announce(t("Camera deleted."));
          ctx.navigate("/cameras");
        },
      });
      danger = h("section.danger-zone", { "aria-labelledby": "danger-title" },
        h("h2", { id: "danger-title" }, t("Delete")),
        h("p", t("To stop requests for a while, pause the camera in your list instead.")),
        remove);
    }

    drawBlackouts();
    setBearing(bearing);
    section.append(...[
      h("h1", editing ? t("Edit “%(label)s”", { label: camera.label }) : welcome || cameraCount === 0 ? t("Add your first camera") : t("Add a camera")),
      welcome ? h("p.lead", t("Welcome to Porchlight. Tell the agency where your camera is and which way it looks; "
        + "officers see only that — never your name, e-mail or phone number.")) : null,
      form,
      danger,
      h("p", h("a", { href: "#/cameras" }, t("Back to your cameras")))].filter(Boolean));
    setTimeout(setupMap, 0);
    return {
      node: section,
      cleanup() {
        if (mapController) {
          mapController.remove();
          mapController = null;
        }
      },
    };
  },
};
