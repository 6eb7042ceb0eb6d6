// Maps with Leaflet and the tile server the deployment configures (GET /api/app-config).
//
// Every map degrades: without tiles the pins, circles and a plain grid still show;
// without Leaflet at all the container says so and the screen's coordinate fields
// and lists keep working. Callers never depend on the map to get a job done.

import { appConfig } from "./config.js";
import { loadScript, loadStyle } from "./vendor.js";
import { t } from "./i18n.js";

// Where maps open when the server's settings cannot be read: pins still show, without tiles.
const FALLBACK = { tile_url: "", attribution: "", center: [43.0389, -87.9065], zoom: 15 };

// The deployment's map settings (the "map" of GET /api/app-config), or the fallback.
export async function mapSettings() {
  const answer = await appConfig();
  return answer.ok ? answer.data.map : FALLBACK;
}

// Compass bearing in degrees → an arrow character's rotation is done in CSS; the label says it.
export function bearingText(degrees) {
  if (degrees === null || degrees === undefined) {
    return t("direction not set");
  }
  const names = [t("north"), t("north-east"), t("east"), t("south-east"), t("south"), t("south-west"), t("west"),
    t("north-west")];
  return `${names[Math.round(degrees / 45) % 8]} (${Math.round(degrees)}°)`;
}

// Creates a map in `container` (an element with class "map" and an accessible label
// given by the caller). Returns a small controller, or null when Leaflet is missing.
export async function createMap(container, { center, zoom, onTap } = {}) {
  const settings = await mapSettings();
  let L;
  try {
    loadStyle("leaflet.css");
    L = await loadScript("leaflet.js", "L");
  } catch {
    container.textContent = t("The map could not be loaded. Use the fields and lists on this screen instead.");
    container.classList.add("map-missing");
    return null;
  }
  const start = center || settings.center;
  const map = L.map(container, { zoomControl: true, attributionControl: Boolean(settings.attribution) })
    .setView(start, zoom || settings.zoom || 15);
  if (settings.tile_url) {
    L.tileLayer(settings.tile_url, {
      maxZoom: settings.max_zoom || 19,
      attribution: settings.attribution || "",
    }).addTo(map);
  }
  if (onTap) {
    map.on("click", (event) => onTap(event.latlng.lat, event.latlng.lng));
  }
  // The container may have been sized after creation (screens render off-document first).
  // A screen left in the meantime has removed the map: Leaflet throws on a removed map.
  let removed = false;
  const resize = () => {
    if (!removed && container.isConnected) {
      map.invalidateSize();
    }
  };
  requestAnimationFrame(resize);
  setTimeout(resize, 300);

  const controller = {
    L,
    map,
    setView(lat, lon, z) {
      map.setView([lat, lon], z || map.getZoom());
    },
    // A marker; draggable ones call onMove(lat, lon) when dropped.
    pin(lat, lon, { label = "", draggable = false, onMove } = {}) {
      const marker = L.marker([lat, lon], { draggable, title: label, alt: label, keyboard: true }).addTo(map);
      if (label) {
        marker.bindTooltip(label);
      }
      if (onMove) {
        marker.on("dragend", () => {
          const point = marker.getLatLng();
          onMove(point.lat, point.lng);
        });
      }
      return marker;
    },
    circle(lat, lon, radius) {
      return L.circle([lat, lon], { radius, color: "#0b5cad", weight: 2, fillOpacity: 0.12 }).addTo(map);
    },
    // A camera: a dot and a short line in the direction it looks.
    camera(lat, lon, bearing, label = t("Camera")) {
      const group = L.layerGroup().addTo(map);
      L.circleMarker([lat, lon], { radius: 6, color: "#0b5cad", weight: 2, fillOpacity: 0.9 })
        .bindTooltip(label).addTo(group);
      if (bearing !== null && bearing !== undefined) {
        const metres = 40;
        const rad = (bearing * Math.PI) / 180;
        const dLat = (metres * Math.cos(rad)) / 111320;
        const dLon = (metres * Math.sin(rad)) / (111320 * Math.cos((lat * Math.PI) / 180));
        L.polyline([[lat, lon], [lat + dLat, lon + dLon]], { color: "#0b5cad", weight: 3 }).addTo(group);
      }
      return group;
    },
    remove() {
      removed = true;
      // Leaflet 1.9 throws ("reading '_leaflet_pos'") when a map is removed in the middle
      // of a zoom animation: its end-of-transition timer runs on the removed panes
      // (Leaflet issue 9575). Let the animation finish, then remove.
      if (map._animatingZoom) {
        map.once("zoomend", () => map.remove());
      } else {
        map.remove();
      }
    },
  };
  return controller;
}

// The device's position, or null (no permission, no fix within the time allowed).
export function currentPosition(timeout = 10000) {
  return new Promise((resolve) => {
    if (!("geolocation" in navigator)) {
      resolve(null);
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (position) => resolve({ lat: position.coords.latitude, lon: position.coords.longitude,
        accuracy: position.coords.accuracy }),
      () => resolve(null),
      { enableHighAccuracy: true, timeout, maximumAge: 60000 });
  });
}
