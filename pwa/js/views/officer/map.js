// The registered cameras shared with the agency around a point: on a map (reloaded as
// it moves) and in a list with distance, coordinates and direction in words, so the
// screen works without map tiles or without the map at all.
//
// Location and direction only: the API gives officers nothing of a camera's owner.

import { get } from "../../api.js";
import { bearingText, createMap, currentPosition, mapSettings } from "../../map.js";
import { debounce } from "../../timing.js";
import { errorCard, field, h, replace } from "../../ui.js";
import { formatCoordinates, formatMetres, parseCoordinate } from "./common.js";
import { N_, t, tn } from "../../i18n.js";

const RADII = [250, 500, 1000, 2000, 5000];
const DEFAULT_RADIUS = 1000;

export default {
  title: N_("Camera map"),
  async render(ctx) {
    const settings = await mapSettings();
    const [startLat, startLon] = settings.center;
    let map = null;
    let layers = [];
    let closed = false;
    let ticket = 0;
    let programmaticUntil = 0;

    const latInput = h("input", { id: "map-latitude", name: "lat", type: "text", inputMode: "decimal",
      autocomplete: "off", spellcheck: false, value: startLat.toFixed(5) });
    const lonInput = h("input", { id: "map-longitude", name: "lon", type: "text", inputMode: "decimal",
      autocomplete: "off", spellcheck: false, value: startLon.toFixed(5) });
    const radiusSelect = h("select", { id: "map-radius", name: "radius_m" },
      RADII.map((r) => h("option", { value: String(r), selected: r === DEFAULT_RADIUS }, formatMetres(r))));
    const locateButton = h("button", { type: "button" }, t("Use my location"));
    const formMessage = h("p.form-error", { role: "alert", hidden: true });
    const form = h("form.map-search", { novalidate: true },
      formMessage,
      h("div.coordinates", field(t("Latitude"), latInput), field(t("Longitude"), lonInput)),
      field(t("Within"), radiusSelect),
      h("div.actions", h("button.primary", { type: "submit" }, t("Show cameras here")), locateButton));

    const mapBox = h("div.map.map-officer.map-cameras", { role: "region", "aria-label":
      t("Map of registered cameras. Moving it lists the cameras around its centre below.") });
    const summary = h("p.camera-summary", { role: "status", "aria-live": "polite", "aria-atomic": "true" },
      t("Loading cameras…"));
    const list = h("ul.cards.camera-list", { "aria-label": t("Cameras") });
    const problem = h("div");

    function draw(cameras, lat, lon, radiusM) {
      layers.forEach((layer) => layer.remove());
      layers = [];
      replace(problem);
      summary.dataset.count = String(cameras.length);
      summary.textContent = tn("%(count)s camera within %(radius)s of %(point)s.",
        "%(count)s cameras within %(radius)s of %(point)s.", cameras.length,
        { radius: formatMetres(radiusM), point: formatCoordinates(lat, lon) });
      replace(list, cameras.map((camera, index) => {
        const label = t("Camera %(number)s", { number: index + 1 });
        if (map) {
          layers.push(map.camera(camera.latitude, camera.longitude, camera.bearing,
            t("%(label)s: %(distance)s away, facing %(bearing)s",
              { label, distance: formatMetres(camera.distance_m), bearing: bearingText(camera.bearing) })));
        }
        const show = map ? h("button", { type: "button" }, t("Show on map"), h("span.visually-hidden", `: ${label}`)) : null;
        show?.addEventListener("click", () => {
          moveMap(camera.latitude, camera.longitude, 18);
          mapBox.scrollIntoView({ block: "center" });
        });
        return h("li.camera", { dataset: { cameraId: String(camera.id) } },
          h("h2", label),
          h("p.meta", t("%(distance)s away · facing %(bearing)s",
            { distance: formatMetres(camera.distance_m), bearing: bearingText(camera.bearing) }),
            camera.field_of_view ? t(" · %(field_of_view)s° field of view", { field_of_view: camera.field_of_view }) : ""),
          h("p.meta.camera-coords", formatCoordinates(camera.latitude, camera.longitude),
            camera.mode === "integrate" ? t(" · live access possible with the owner's consent") : ""),
          show);
      }));
      if (!cameras.length) {
        list.replaceChildren();
      }
    }

    async function search(lat, lon, radiusM) {
      const mine = ++ticket;
      latInput.value = lat.toFixed(5);
      lonInput.value = lon.toFixed(5);
      const answer = await get(`/api/agency/cameras/nearby?lat=${lat}&lon=${lon}&radius_m=${radiusM}`);
      if (closed || mine !== ticket) {
        return;
      }
      if (!answer.ok) {
        summary.textContent = t("The cameras could not be loaded.");
        replace(problem, errorCard(answer.error, () => search(lat, lon, radiusM)));
        return;
      }
      draw(answer.data.cameras, lat, lon, radiusM);
    }

    function moveMap(lat, lon, zoom) {
      if (map) {
        programmaticUntil = Date.now() + 1000;
        map.setView(lat, lon, zoom);
      }
    }

    // The smallest search radius covering what the map shows (at most 5 km).
    function visibleRadius() {
      const bounds = map.map.getBounds();
      const half = map.map.distance(bounds.getCenter(), bounds.getNorthEast());
      return RADII.find((r) => r >= half) || RADII[RADII.length - 1];
    }

    const onMove = debounce(() => {
      if (!map || closed) {
        return;
      }
      const centre = map.map.getCenter();
      const radiusM = visibleRadius();
      radiusSelect.value = String(radiusM);
      search(centre.lat, centre.lng, radiusM);
    }, 500);

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const lat = parseCoordinate(latInput.value, 90);
      const lon = parseCoordinate(lonInput.value, 180);
      formMessage.hidden = true;
      latInput.removeAttribute("aria-invalid");
      lonInput.removeAttribute("aria-invalid");
      if (lat === null || lon === null) {
        (lat === null ? latInput : lonInput).setAttribute("aria-invalid", "true");
        formMessage.hidden = false;
        formMessage.textContent = t("Type the latitude (-90 to 90) and longitude (-180 to 180) in decimal degrees.");
        (lat === null ? latInput : lonInput).focus();
        return;
      }
      moveMap(lat, lon);
      search(lat, lon, Number(radiusSelect.value));
    });

    locateButton.addEventListener("click", async () => {
      locateButton.disabled = true;
      const position = await currentPosition();
      locateButton.disabled = false;
      if (closed) {
        return;
      }
      if (!position) {
        formMessage.hidden = false;
        formMessage.textContent = t("Your location is not available (permission refused or no GPS fix). Type the coordinates instead.");
        return;
      }
      moveMap(position.lat, position.lon);
      search(position.lat, position.lon, Number(radiusSelect.value));
    });

    search(startLat, startLon, DEFAULT_RADIUS);
    createMap(mapBox, { center: [startLat, startLon], zoom: settings.zoom }).then((controller) => {
      if (closed) {
        controller?.remove();
        return;
      }
      map = controller;
      if (!map) {
        return;
      }
      mapBox.dataset.ready = "true";
      map.map.on("moveend", () => {
        if (Date.now() > programmaticUntil) {
          onMove();
        }
      });
      // Redraw what is listed now, with the markers the map can show.
      ticket += 1;
      const centre = map.map.getCenter();
      search(centre.lat, centre.lng, Number(radiusSelect.value));
    });

    return {
      node: h("section.officer",
        h("h1", t("Camera map")),
        h("p.lead", t("Registered cameras shared with your agency: where they are and which way they look. " +
          "Owners stay anonymous.")),
        mapBox,
        form,
        summary,
        problem,
        list),
      cleanup() {
        closed = true;
        onMove.cancel();
        if (map) {
          map.remove();
          map = null;
        }
      },
    };
  },
};
