// iPhones and iPads: Web Push works there only for a web app added to the Home Screen
// (iOS and iPadOS 16.4 and later), never in a Safari tab. Where that is the case the
// screens that offer push show how to add Porchlight to the Home Screen instead of a
// button that cannot work, and point to text messages and e-mail meanwhile.
//
// Every owner-facing text of this guide is in TEXTS, marked for the catalogs (N_) and
// translated where it is shown (t).

import { N_, t } from "./i18n.js";
import { h } from "./ui.js";

export const TEXTS = {
  title: N_("Add Porchlight to your Home Screen first"),
  why: N_("On an iPhone or iPad, notifications work only in the Porchlight app on your Home Screen, not in a browser tab. It takes three steps:"),
  steps: [
    N_("Tap the Share button (the square with an arrow pointing up) in the browser’s toolbar."),
    N_("Scroll down and tap “Add to Home Screen”, then tap Add."),
    N_("Open Porchlight from its new icon on your Home Screen and sign in; then turn on notifications there."),
  ],
  meanwhile: N_("Until then, you can get requests by text message or e-mail:"),
  meanwhileHere: N_("Until then, you can get requests by text message or e-mail: tick them under “Send me requests by” on this screen, and verify your mobile number under “Text messages”."),
  channelsLink: N_("choose them in Settings"),
  status: N_("Notifications need Porchlight on your Home Screen (see the steps)."),
};

// An iPhone, iPod or iPad, whatever the browser (they all run Safari's engine). iPadOS
// asks for desktop sites by default and then says "Macintosh": a Mac has no touch screen.
export function isAppleMobile(nav = navigator) {
  const agent = nav.userAgent || "";
  return /\b(iPhone|iPad|iPod)\b/.test(agent) || (/\bMacintosh\b/.test(agent) && (nav.maxTouchPoints || 0) > 1);
}

// Opened from the Home Screen icon: Safari's own flag, or the manifest's display mode.
export function isStandalone(win = window) {
  return win.navigator.standalone === true
    || ["standalone", "fullscreen"].some((mode) => win.matchMedia?.(`(display-mode: ${mode})`).matches);
}

// Whether this device must add the app to its Home Screen before push can work.
export function needsHomeScreen() {
  return isAppleMobile() && !isStandalone();
}

// The steps, as a section for the screens that would otherwise show a push button.
// `inSettings`: the channels are on the same screen, so the text points to them instead of
// linking; `level`: the heading's level in the screen's outline.
export function homeScreenGuide({ inSettings = false, level = 3 } = {}) {
  return h("div.home-screen-guide",
    h(`h${level}`, t(TEXTS.title)),
    h("p", t(TEXTS.why)),
    h("ol.steps", TEXTS.steps.map((step) => h("li", t(step)))),
    inSettings
      ? h("p", t(TEXTS.meanwhileHere))
      : h("p", t(TEXTS.meanwhile), " ", h("a", { href: "#/settings" }, t(TEXTS.channelsLink)), "."));
}
