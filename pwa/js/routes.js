// Every screen of the app: its hash path, the module that draws it, and who may see it.
//
// A view module exports `default` an object:
//   { title: "Inbox",                       // document title and the heading screen readers hear
//     async render(ctx) { return node },    // ctx: see app.js (params, query, user, navigate, ...)
//   }
// render may also return {node, cleanup} when it starts timers or polling.
//
// Navigation texts are marked with N_() for the catalogs; the shell translates them.
//
// roles: who may open the screen (null: anyone, signed in or not). A signed-out
// visitor of a protected screen is sent to sign in and brought back afterwards.

import { N_ } from "./i18n.js";

export const OWNER = ["owner"];
export const STAFF = ["officer", "supervisor"];
export const SUPERVISOR = ["supervisor"];
export const MANAGER = ["manager"];
export const OVERSIGHT = ["oversight"];

export const ROUTES = [
  { path: "/", module: "./views/home.js", roles: null },
  { path: "/signin", module: "./views/account/signin.js", roles: null },
  { path: "/signup", module: "./views/account/signup.js", roles: null },
  { path: "/verify-email/:token", module: "./views/account/verify-email.js", roles: null },
  { path: "/scan", module: "./views/owner/scan.js", roles: null },
  { path: "/transparency", module: "./views/public/transparency-index.js", roles: null },
  { path: "/transparency/:slug", module: "./views/public/transparency.js", roles: null },
  { path: "/transparency/:slug/report/:year", module: "./views/public/annual-report.js", roles: null },
  { path: "/accessibility", module: "./views/public/accessibility.js", roles: null },
  { path: "/settings", module: "./views/account/settings.js", roles: ["owner", "officer", "supervisor", "manager", "oversight"] },
  { path: "/two-step", module: "./views/account/two-step.js",
    roles: ["owner", "officer", "supervisor", "manager", "oversight"] },
  { path: "/join/:token", module: "./views/account/join.js", roles: null },
  { path: "/forgot", module: "./views/account/forgot.js", roles: null },
  { path: "/reset/:token", module: "./views/account/reset.js", roles: null },

  { path: "/inbox", module: "./views/owner/inbox.js", roles: OWNER },
  { path: "/asks/:id", module: "./views/owner/ask.js", roles: OWNER },
  { path: "/cameras", module: "./views/owner/cameras.js", roles: OWNER },
  { path: "/cameras/new", module: "./views/owner/camera-form.js", roles: OWNER },
  { path: "/cameras/:id", module: "./views/owner/camera-form.js", roles: OWNER },
  { path: "/history", module: "./views/owner/history.js", roles: OWNER },

  { path: "/officer/map", module: "./views/officer/map.js", roles: STAFF },
  { path: "/officer/new", module: "./views/officer/new-request.js", roles: STAFF },
  { path: "/officer/requests", module: "./views/officer/requests.js", roles: STAFF },
  { path: "/officer/requests/:id", module: "./views/officer/request.js", roles: STAFF },
  { path: "/officer/clips/:id", module: "./views/officer/clip.js", roles: STAFF },
  { path: "/officer/approvals", module: "./views/officer/approvals.js", roles: SUPERVISOR },
  { path: "/officer/audit", module: "./views/officer/audit.js", roles: ["supervisor", "oversight"] },
  { path: "/officer/staff", module: "./views/officer/staff.js", roles: SUPERVISOR },
  { path: "/officer/report", module: "./views/officer/report-entries.js", roles: SUPERVISOR },

  { path: "/oversight/requests", module: "./views/oversight/requests.js", roles: OVERSIGHT },
  { path: "/oversight/requests/:id", module: "./views/oversight/request.js", roles: OVERSIGHT },
  { path: "/oversight/complaints", module: "./views/oversight/complaints.js", roles: ["supervisor", "oversight"] },

  { path: "/district", module: "./views/manager/district.js", roles: MANAGER },
  { path: "/district/members", module: "./views/manager/members.js", roles: MANAGER },
  { path: "/district/import", module: "./views/manager/import.js", roles: MANAGER },
  { path: "/district/imports/:id", module: "./views/manager/import.js", roles: MANAGER },
];

// Where each role lands after signing in, and its navigation.
export const HOME = {
  owner: "/inbox",
  officer: "/officer/requests",
  supervisor: "/officer/requests",
  manager: "/district/members",
  oversight: "/oversight/requests",
};

export const NAV = {
  owner: [["/inbox", N_("Inbox")], ["/cameras", N_("Cameras")], ["/history", N_("History")], ["/settings", N_("Settings")]],
  officer: [["/officer/requests", N_("Requests")], ["/officer/new", N_("New request")], ["/officer/map", N_("Map")],
    ["/settings", N_("Settings")]],
  supervisor: [["/officer/requests", N_("Requests")], ["/officer/new", N_("New request")],
    ["/officer/approvals", N_("Approvals")], ["/officer/map", N_("Map")], ["/officer/audit", N_("Audit log")],
    ["/officer/staff", N_("Staff")], ["/officer/report", N_("Annual report")], ["/settings", N_("Settings")]],
  manager: [["/district/members", N_("Dashboard")], ["/district/import", N_("Import")], ["/district", N_("Codes")],
    ["/settings", N_("Settings")]],
  oversight: [["/oversight/requests", N_("Requests")], ["/officer/audit", N_("Audit log")],
    ["/oversight/complaints", N_("Complaints")], ["/settings", N_("Settings")]],
  anonymous: [["/signin", N_("Sign in")], ["/signup", N_("Sign up")]],
};

// Officers, supervisors and oversight set up two-step sign-in before anything else (the API
// refuses them every other call until then): the app sends them to TWO_STEP, and
// this is all their navigation shows meanwhile.
export const TWO_STEP = "/two-step";
export const SETUP_NAV = [[TWO_STEP, N_("Two-step sign-in")]];
