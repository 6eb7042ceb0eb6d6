// The accessibility statement: the standard Porchlight aims at, how it is checked, what is
// known not to meet it yet, and how to report a problem. Public: linked from every page's
// footer. Its texts are all in TEXTS, marked for the catalogs (N_), translated when shown (t).
//
// The agency running a deployment is not in the data model (a deployment can serve several),
// so the statement names "the police department running this service" rather than one.

import { N_, t } from "../../i18n.js";
import { h } from "../../ui.js";

export const TEXTS = {
  title: N_("Accessibility"),
  intro: N_("Porchlight is meant to be usable by everyone who owns a camera or wants to see what the police asked for, including people who use a screen reader, a keyboard, voice control, magnification or large text."),
  targetTitle: N_("The standard we aim at"),
  target: N_("Porchlight aims to conform to the Web Content Accessibility Guidelines (WCAG) 2.1 at level AA, the standard US state and local governments must meet for their web content and apps under Title II of the Americans with Disabilities Act."),
  checksTitle: N_("How it is checked"),
  checks: [
    N_("Every screen, for camera owners, officers, district managers and the public, is tested automatically with axe-core against the WCAG 2.1 A and AA rules on a phone-sized screen, and for colour contrast in dark mode too."),
    N_("The owner’s screens and the officer’s new request are tested with a keyboard alone: every control can be reached in a logical order, has a name and shows where the focus is."),
    N_("Text can be enlarged to twice its size (200 percent) on a 390-pixel-wide phone screen without content being cut off or the page scrolling sideways."),
    N_("Form errors are announced to screen readers, and focus moves to the first problem."),
    N_("The app follows the device’s light or dark setting; both meet the contrast minimums."),
  ],
  limitsTitle: N_("Known limitations"),
  limits: [
    N_("Maps: placing a camera or an incident point by tapping a map needs sight and a pointer. Every map has fields beside it where the same place can be typed as coordinates, and lists that show what the map shows."),
    N_("Video clips shared by owners have no captions or audio description: they are security camera recordings sent as evidence, not media produced by the service."),
    N_("On iPhones and iPads, notifications work only once Porchlight is added to the Home Screen; text messages and e-mail work everywhere."),
    N_("The statement was written from automated and keyboard testing by the project; it has not yet been audited by people with disabilities. Translations other than English need review by native speakers."),
  ],
  reportTitle: N_("Report a problem"),
  report: N_("If something in Porchlight is hard or impossible for you to use, tell the police department running this service: they can answer your request for footage another way and have the problem fixed. You can also report it on the Porchlight project’s public issue tracker, where the software is developed, so every city running it gets the fix. Please say which screen, what you were trying to do, and the device and assistive technology you use."),
  updated: N_("This statement describes Porchlight as released; it is reviewed with every release that changes a screen."),
};

export default {
  title: TEXTS.title,
  async render() {
    return h("section.accessibility-statement",
      h("h1", t(TEXTS.title)),
      h("p.lead", t(TEXTS.intro)),
      h("h2", t(TEXTS.targetTitle)),
      h("p", t(TEXTS.target)),
      h("h2", t(TEXTS.checksTitle)),
      h("ul", TEXTS.checks.map((text) => h("li", t(text)))),
      h("h2", t(TEXTS.limitsTitle)),
      h("ul", TEXTS.limits.map((text) => h("li", t(text)))),
      h("h2", t(TEXTS.reportTitle)),
      h("p", t(TEXTS.report)),
      h("p.hint", t(TEXTS.updated)));
  },
};
