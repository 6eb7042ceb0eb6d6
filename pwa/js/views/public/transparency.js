// The public transparency report of one agency: no sign-in, aggregates only.
//
// Everything here comes from GET /api/public/agencies/<slug>/report, which holds no
// owner, camera, case number or exact place: cameras are counted over grid cells, and
// a cell with fewer than 5 cameras is never shown.

import { get } from "../../api.js";
import { createMap } from "../../map.js";
import { errorCard, h, loading, replace } from "../../ui.js";

const MONTH_FORMAT = new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric", timeZone: "UTC" });

function monthName(month) {
  const [year, m] = month.split("-").map(Number);
  return MONTH_FORMAT.format(new Date(Date.UTC(year, m - 1, 1)));
}

function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${Math.round(rate * 1000) / 10}%`;
}

function minutes(value) {
  if (value === null || value === undefined) {
    return "—";
  }
  return value < 90 ? `${Math.round(value)} min` : `${(value / 60).toFixed(1)} h`;
}

// [column heading, how to show the month's value]
const COLUMNS = [
  ["Requests", (m) => m.requests],
  ["Over-limit requests approved", (m) => m.requests_over_limit_approved],
  ["Of which self-approved", (m) => m.requests_over_limit_self_approved],
  ["Cameras asked", (m) => m.cameras_asked],
  ["Approved", (m) => `${m.approved} (${percent(m.approved_rate)})`],
  ["Declined", (m) => `${m.declined} (${percent(m.declined_rate)})`],
  ["No footage", (m) => `${m.no_footage} (${percent(m.no_footage_rate)})`],
  ["Expired unanswered", (m) => `${m.expired} (${percent(m.expired_rate)})`],
  ["Withdrawn or still open", (m) => m.cancelled + m.open],
  ["Median time to respond", (m) => minutes(m.median_time_to_respond_minutes)],
  ["Clips received", (m) => m.clips_received],
  ["Clips purged", (m) => m.clips_purged],
];

function monthTable(months) {
  // Newest first: the month people look for. On a phone each row becomes a card (CSS).
  const rows = [...months].reverse();
  return h("div.transparency-table-wrap",
    h("table.transparency-table",
      h("caption.visually-hidden", "Requests and their outcomes, per month"),
      h("thead", h("tr", h("th", { scope: "col" }, "Month"), COLUMNS.map(([name]) => h("th", { scope: "col" }, name)))),
      h("tbody", rows.map((m) => h("tr",
        h("th", { scope: "row" }, monthName(m.month)),
        COLUMNS.map(([name, value]) => h("td", { dataset: { label: name } }, String(value(m)))))))));
}

function totals(months) {
  const sum = (key) => months.reduce((total, m) => total + m[key], 0);
  return h("dl.counts.transparency-totals",
    h("div", h("dt", "Requests"), h("dd", String(sum("requests")))),
    h("div", h("dt", "Cameras asked"), h("dd", String(sum("cameras_asked")))),
    h("div", h("dt", "Approved by owners"), h("dd", String(sum("approved")))),
    h("div", h("dt", "Over-limit approvals"), h("dd", String(sum("requests_over_limit_approved")))),
    h("div", h("dt", "Of those, self-approved"), h("dd", String(sum("requests_over_limit_self_approved")))));
}

function cellList(cameras) {
  if (!cameras.cells.length) {
    return h("p.empty", `No area has ${cameras.min_cameras_per_cell} or more registered cameras yet, so no camera counts are shown.`);
  }
  return h("ul.plain.transparency-cells", cameras.cells.map((cell) => h("li",
    h("strong", `${cell.registered} registered`), `, ${cell.integrated} integrated — area around `,
    `${cell.latitude.toFixed(3)}, ${cell.longitude.toFixed(3)}`)));
}

function explanation(cameras) {
  const km = Math.round(cameras.cell_size_degrees * 111 * 10) / 10;
  return h("section.transparency-help", { "aria-labelledby": "transparency-help-heading" },
    h("h2", { id: "transparency-help-heading" }, "What the numbers mean"),
    h("dl.stacked",
      h("dt", "Requests"), h("dd", "Footage requests officers made that month, for an incident: each asks the owners of cameras nearby."),
      h("dt", "Over-limit requests approved"), h("dd", "Requests beyond the agency's limits on area or time window that a supervisor approved, with a recorded reason, that month."),
      h("dt", "Of which self-approved"), h("dd", "Over-limit requests approved by the same supervisor who made them. ",
        "Normally a different supervisor must approve; an agency can allow self-approval only by an explicit policy setting, and each one is counted here."),
      h("dt", "Cameras asked"), h("dd", "One ask goes to the owner of each matching camera."),
      h("dt", "Approved, declined, no footage, expired"), h("dd",
        "What owners did with that month's asks. The percentage is the share of asks that reached one of these four outcomes; ",
        "asks withdrawn by the officer or still waiting for an answer are not counted in it."),
      h("dt", "Median time to respond"), h("dd", "Half of the owners who answered did so faster than this, counted from the moment they were asked."),
      h("dt", "Clips received, clips purged"), h("dd", "Video files owners uploaded, and files deleted when the agency's retention period ended."),
      h("dt", "Registered and integrated cameras"), h("dd",
        "Registered: active cameras whose owners share them with this agency. Integrated: those whose owners also agreed to time-limited live access. ",
        `Counted over areas of about ${km} km across, shown by the centre of the area.`)),
    h("h3", "What is never shown"),
    h("ul.plain",
      h("li", `An area with fewer than ${cameras.min_cameras_per_cell} cameras: not even its count. The totals add up only the areas shown, so nothing can be worked out by subtraction.`),
      h("li", "Who owns a camera, where exactly it is, or who declined or ignored a request."),
      h("li", "Case numbers, incident descriptions or anything else about a single request.")),
    h("p.hint", "Months are calendar months in the agency's time zone; each figure counts in the month the event happened."));
}

export default {
  title: "Transparency report",
  async render(ctx) {
    const slug = ctx.params.slug;
    const base = `/api/public/agencies/${encodeURIComponent(slug)}/report`;
    const answer = await get(base);
    if (!answer.ok) {
      return h("section",
        h("h1", "Transparency report"),
        errorCard(answer.status === 404 ? { message: "There is no agency at this address." } : answer.error),
        h("p", h("a", { href: "#/transparency" }, "All agencies")));
    }
    const report = answer.data;
    const cameras = report.cameras;
    const mapBox = h("div.map.transparency-map", { role: "region",
      "aria-label": "Map of areas with registered cameras (the same areas as the list below)" });
    let map = null;
    let closed = false;
    if (cameras.cells.length) {
      createMap(mapBox, { center: [cameras.cells[0].latitude, cameras.cells[0].longitude], zoom: 13 })
        .then((controller) => {
          if (closed) {
            controller?.remove();
            return;
          }
          map = controller;
          if (!map) {
            return;
          }
          const half = (cameras.cell_size_degrees / 2) * 111320;
          const circles = cameras.cells.map((cell) => {
            const circle = map.circle(cell.latitude, cell.longitude, half);
            circle.bindTooltip(`${cell.registered} registered, ${cell.integrated} integrated`);
            return circle;
          });
          const group = map.L.featureGroup(circles);
          map.map.fitBounds(group.getBounds(), { padding: [16, 16], maxZoom: 15 });
          mapBox.dataset.ready = "true";
        });
    }
    const csvHref = `${base}.csv?from=${encodeURIComponent(report.from)}&to=${encodeURIComponent(report.to)}`;
    const node = h("section.transparency",
      h("p.back", h("a", { href: "#/transparency" }, "All agencies")),
      h("h1", `Transparency report: ${report.agency.name}`),
      h("p.lead", `What ${report.agency.name} asked of camera owners through Porchlight, and what owners answered, `,
        `from ${monthName(report.from)} to ${monthName(report.to)}. Counts only — no personal data.`),
      totals(report.months),
      h("h2", "Month by month"),
      monthTable(report.months),
      h("p", h("a.button", { href: csvHref, download: "" }, "Download the table (CSV)"),
        " ", h("a", { href: base }, "JSON")),
      h("h2", "Registered cameras"),
      h("dl.counts",
        h("div", h("dt", "Registered cameras"), h("dd", String(cameras.registered))),
        h("div", h("dt", "Integrated cameras"), h("dd", String(cameras.integrated)))),
      h("p.hint", `Only areas holding at least ${cameras.min_cameras_per_cell} cameras are counted.`),
      cameras.cells.length ? mapBox : null,
      cellList(cameras),
      explanation(cameras));
    return {
      node,
      cleanup() {
        closed = true;
        if (map) {
          map.remove();
        }
      },
    };
  },
};
