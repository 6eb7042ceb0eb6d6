// The public transparency report of one agency: no sign-in, aggregates only.
//
// Everything here comes from GET /api/public/agencies/<slug>/report, which holds no
// owner, camera, case number or exact place: cameras are counted over grid cells, and
// a cell with fewer than 5 cameras is never shown.

import { get } from "../../api.js";
import { createMap } from "../../map.js";
import { errorCard, h, loading, replace } from "../../ui.js";
import { dateTimeFormat, formatNumber, N_, t } from "../../i18n.js";
import { checkpointsSection } from "./common.js";

// Made when called: the month names are the language's (numeric for Hmong, see i18n.js).
const monthFormat = () => dateTimeFormat({ month: "long", year: "numeric", timeZone: "UTC" });

function monthName(month) {
  const [year, m] = month.split("-").map(Number);
  return monthFormat().format(new Date(Date.UTC(year, m - 1, 1)));
}

function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${Math.round(rate * 1000) / 10}%`;
}

function minutes(value) {
  if (value === null || value === undefined) {
    return "—";
  }
  return value < 90 ? t("%(minutes)s min", { minutes: Math.round(value) })
    : t("%(hours)s h", { hours: formatNumber(value / 60, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) });
}

// A count the report withholds (null: from 1 to 4, the small-cell rule).
function count(value) {
  return value === null || value === undefined ? t("fewer than 5") : String(value);
}

// [column heading, how to show the month's value]
const COLUMNS = [
  [t("Requests"), (m) => m.requests],
  [t("Over-limit requests approved"), (m) => m.requests_over_limit_approved],
  [t("Of which self-approved"), (m) => m.requests_over_limit_self_approved],
  [t("Re-asks"), (m) => count(m.requests_re_ask)],
  [t("Re-asks approved"), (m) => count(m.requests_re_ask_approved)],
  [t("Cameras asked"), (m) => m.cameras_asked],
  [t("Approved"), (m) => `${m.approved} (${percent(m.approved_rate)})`],
  [t("Declined"), (m) => `${m.declined} (${percent(m.declined_rate)})`],
  [t("No footage"), (m) => `${m.no_footage} (${percent(m.no_footage_rate)})`],
  [t("Expired unanswered"), (m) => `${m.expired} (${percent(m.expired_rate)})`],
  [t("Withdrawn or still open"), (m) => m.cancelled + m.open],
  [t("Median time to respond"), (m) => minutes(m.median_time_to_respond_minutes)],
  [t("Clips received"), (m) => m.clips_received],
  [t("Clips purged"), (m) => m.clips_purged],
];

function monthTable(months) {
  // Newest first: the month people look for. On a phone each row becomes a card (CSS).
  const rows = [...months].reverse();
  return h("div.transparency-table-wrap",
    h("table.transparency-table",
      h("caption.visually-hidden", t("Requests and their outcomes, per month")),
      h("thead", h("tr", h("th", { scope: "col" }, t("Month")), COLUMNS.map(([name]) => h("th", { scope: "col" }, name)))),
      h("tbody", rows.map((m) => h("tr",
        h("th", { scope: "row" }, monthName(m.month)),
        COLUMNS.map(([name, value]) => h("td", { dataset: { label: name } }, String(value(m)))))))));
}

function totals(months) {
  const sum = (key) => months.reduce((total, m) => total + m[key], 0);
  return h("dl.counts.transparency-totals",
    h("div", h("dt", t("Requests")), h("dd", String(sum("requests")))),
    h("div", h("dt", t("Cameras asked")), h("dd", String(sum("cameras_asked")))),
    h("div", h("dt", t("Approved by owners")), h("dd", String(sum("approved")))),
    h("div", h("dt", t("Over-limit approvals")), h("dd", String(sum("requests_over_limit_approved")))),
    h("div", h("dt", t("Of those, self-approved")), h("dd", String(sum("requests_over_limit_self_approved")))));
}

// A cell's integrated count is null when it (or the rest of the cell) is under the threshold.
const shownCount = (value) => (value === null || value === undefined ? "—" : value);

const BASIS_NAMES = {
  voluntary: N_("Voluntary request"), warrant: N_("Warrant"), exigent: N_("Exigent circumstances"),
};

// Requests over the range by legal basis and by offense category; a withheld count says so.
function purposeTable(caption, heading, cells, name) {
  return h("table.purpose-table",
    h("caption", caption),
    h("thead", h("tr", h("th", { scope: "col" }, heading), h("th", { scope: "col" }, t("Requests")))),
    h("tbody", cells.map((cell) => h("tr", { dataset: { key: cell.key } },
      h("th", { scope: "row" }, name(cell)),
      h("td", cell.suppressed ? t("not shown") : String(cell.requests))))));
}

function purposes(report, csvBase) {
  const data = report.purposes;
  return h("section.transparency-purposes", { "aria-labelledby": "purposes-heading" },
    h("h2", { id: "purposes-heading" }, t("Purpose and legal basis")),
    h("p", t("Every request states its legal basis and an offense category from the agency's list. "
      + "Counts of the whole period shown.")),
    purposeTable(t("Requests by legal basis"), t("Legal basis"), data.legal_basis,
      (cell) => t(BASIS_NAMES[cell.key] || cell.key)),
    purposeTable(t("Requests by offense category"), t("Offense category"), data.offense_categories,
      (cell) => cell.name),
    h("p", h("a", { href: `${csvBase}&table=purposes`, download: "" }, t("Download these counts (CSV)"))));
}

function cellList(cameras) {
  if (!cameras.cells.length) {
    return h("p.empty", t("No area has %(min_cameras_per_cell)s or more registered cameras yet, so no camera counts are shown.", { min_cameras_per_cell: cameras.min_cameras_per_cell }));
  }
  return h("ul.plain.transparency-cells", cameras.cells.map((cell) => h("li",
    h("strong", t("%(registered)s registered", { registered: cell.registered })), t(", %(integrated)s integrated — area around ", { integrated: shownCount(cell.integrated) }),
    `${cell.latitude.toFixed(3)}, ${cell.longitude.toFixed(3)}`)));
}

function explanation(cameras) {
  const km = Math.round(cameras.cell_size_degrees * 111 * 10) / 10;
  return h("section.transparency-help", { "aria-labelledby": "transparency-help-heading" },
    h("h2", { id: "transparency-help-heading" }, t("What the numbers mean")),
    h("dl.stacked",
      h("dt", t("Requests")), h("dd", t("Footage requests officers made that month, for an incident: each asks the owners of cameras nearby.")),
      h("dt", t("Over-limit requests approved")), h("dd", t("Requests beyond the agency's limits on area or time window that a supervisor approved, with a recorded reason, that month.")),
      h("dt", t("Of which self-approved")), h("dd", t("Over-limit requests approved by the same supervisor who made them. "),
        t("Normally a different supervisor must approve; an agency can allow self-approval only by an explicit policy setting, and each one is counted here.")),
      h("dt", t("Re-asks")), h("dd", t("Requests that ask again the owner of a camera who declined, or did not answer, a request of this agency for an overlapping place and time in the 30 days before. Each needs a supervisor's approval with a recorded reason; approvals count in the month they were given.")),
      h("dt", t("Cameras asked")), h("dd", t("One ask goes to the owner of each matching camera.")),
      h("dt", t("Approved, declined, no footage, expired")), h("dd",
        t("What owners did with that month's asks. The percentage is the share of asks that reached one of these four outcomes; "),
        t("asks withdrawn by the officer or still waiting for an answer are not counted in it.")),
      h("dt", t("Median time to respond")), h("dd", t("Half of the owners who answered did so faster than this, counted from the moment they were asked.")),
      h("dt", t("Clips received, clips purged")), h("dd", t("Video files owners uploaded, and files deleted when the agency's retention period ended.")),
      h("dt", t("Registered and integrated cameras")), h("dd",
        t("Registered: active cameras whose owners share them with this agency. Integrated: those whose owners also agreed to time-limited live access. "),
        t("Counted over areas of about %(km)s km across, shown by the centre of the area.", { km }))),
    h("h3", t("What is never shown")),
    h("ul.plain",
      h("li", t("An area with fewer than %(min_cameras_per_cell)s cameras: not even its count. The totals add up only the areas shown, so nothing can be worked out by subtraction.", { min_cameras_per_cell: cameras.min_cameras_per_cell })),
      h("li", t("An area's count of integrated cameras (shown as —) when it, or the number of its other cameras, is from 1 to 4.")),
      h("li", t("A count of requests (re-asks, or by legal basis or offense category) from 1 to 4. Where the hidden counts of a table would add up to less than 5, more are hidden with them, so that none can be worked out from the monthly totals.")),
      h("li", t("Who owns a camera, where exactly it is, or who declined or ignored a request.")),
      h("li", t("Case numbers, incident descriptions or anything else about a single request."))),
    h("p.hint", t("Months are calendar months in the agency's time zone; each figure counts in the month the event happened.")));
}

// The annual reports (one per calendar year, with the fields oversight bodies ask for): the
// current year so far and the two before it.
function annualLinks(slug) {
  const year = new Date().getFullYear();
  return h("nav.annual-links", { "aria-label": t("Annual reports") },
    h("p", t("Annual reports:"), " ", [year, year - 1, year - 2].map((y) => [
      h("a", { href: `#/transparency/${encodeURIComponent(slug)}/report/${y}` }, String(y)), " "])));
}

export default {
  title: N_("Transparency report"),
  async render(ctx) {
    const slug = ctx.params.slug;
    const base = `/api/public/agencies/${encodeURIComponent(slug)}/report`;
    const checkpointsHref = `/api/public/agencies/${encodeURIComponent(slug)}/checkpoints`;
    const [answer, checkpoints] = await Promise.all([get(base), get(checkpointsHref)]);
    if (!answer.ok) {
      return h("section",
        h("h1", t("Transparency report")),
        errorCard(answer.status === 404 ? { message: t("There is no agency at this address.") } : answer.error),
        h("p", h("a", { href: "#/transparency" }, t("All agencies"))));
    }
    const report = answer.data;
    const cameras = report.cameras;
    const mapBox = h("div.map.transparency-map", { role: "region",
      "aria-label": t("Map of areas with registered cameras (the same areas as the list below)") });
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
            circle.bindTooltip(t("%(registered)s registered, %(integrated)s integrated", { registered: cell.registered, integrated: shownCount(cell.integrated) }));
            return circle;
          });
          const group = map.L.featureGroup(circles);
          map.map.fitBounds(group.getBounds(), { padding: [16, 16], maxZoom: 15, animate: false });
          mapBox.dataset.ready = "true";
        });
    }
    const csvHref = `${base}.csv?from=${encodeURIComponent(report.from)}&to=${encodeURIComponent(report.to)}`;
    const node = h("section.transparency",
      h("p.back", h("a", { href: "#/transparency" }, t("All agencies"))),
      h("h1", t("Transparency report: %(name)s", { name: report.agency.name })),
      h("p.lead", t("What %(name)s asked of camera owners through Porchlight, and what owners answered, "
        + "from %(from)s to %(to)s. Counts only — no personal data.",
      { name: report.agency.name, from: monthName(report.from), to: monthName(report.to) })),
      totals(report.months),
      h("h2", t("Month by month")),
      monthTable(report.months),
      h("p", h("a.button", { href: csvHref, download: "" }, t("Download the table (CSV)")),
        " ", h("a", { href: base }, "JSON")),
      annualLinks(slug),
      report.purposes ? purposes(report, csvHref) : null,
      h("h2", t("Registered cameras")),
      h("dl.counts",
        h("div", h("dt", t("Registered cameras")), h("dd", String(cameras.registered))),
        h("div", h("dt", t("Integrated cameras")), h("dd", String(cameras.integrated)))),
      h("p.hint", t("Only areas holding at least %(min_cameras_per_cell)s cameras are counted.", { min_cameras_per_cell: cameras.min_cameras_per_cell })),
      cameras.cells.length ? mapBox : null,
      cellList(cameras),
      checkpoints.ok ? checkpointsSection(checkpoints.data, checkpointsHref,
        t("Everything %(name)s does in Porchlight is recorded in its own tamper-evident audit log.", { name: report.agency.name }))
        : null,
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
