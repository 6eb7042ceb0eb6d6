// The start screen: signed-in users go to their own start page; visitors learn what
// Porchlight is and how to join.

import { h, languageSwitch } from "../ui.js";
import { N_, t } from "../i18n.js";

export default {
  title: N_("Community camera registry"),
  async render(ctx) {
    if (ctx.user) {
      ctx.navigate(ctx.homeFor(ctx.user), { replace: true });
      return h("p.loading", t("Opening your start page…"));
    }
    return h("section",
      languageSwitch(),
      h("h1", t("A community camera registry that leaves owners in control")),
      h("p.lead", t("Residents and businesses register their security cameras with their police department. "),
        t("After an incident nearby, an officer can "), h("strong", "ask"), t(" for footage — and the owner decides, every time.")),
      h("div.actions",
        h("a.button.primary", { href: "#/scan" }, t("Scan an enrollment QR code")),
        h("a.button", { href: "#/signin" }, t("Sign in")),
        h("a.button", { href: "#/signup" }, t("Sign up"))),
      h("h2", t("How it works")),
      h("ul.plain",
        h("li", t("Scan the QR code from your neighbourhood’s sheet, or open the link you were sent, and sign up.")),
        h("li", t("Add your cameras: where they are, which way they look, how long the recorder keeps video.")),
        h("li", t("When an officer asks, approve, decline or answer “no footage”. Pause or leave at any time."))),
      h("h2", t("What keeps it trustworthy")),
      h("ul.plain",
        h("li", t("Joining is voluntary and can be undone.")),
        h("li", t("Officers never see your phone number or e-mail address, nor who declined.")),
        h("li", t("No face recognition, no plate reading: no video analysis of any kind.")),
        h("li", t("Every request and every look at shared footage goes into a tamper-evident audit log."))),
      h("p", h("a", { href: "#/transparency" }, t("Transparency reports")),
        t(": what each police department asked of camera owners, and what they answered.")),
      h("p.hint", t("Developers: the API and its documentation are at "), h("a", { href: "/api/docs" }, "/api/docs"), "."));
  },
};
