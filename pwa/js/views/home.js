// The start screen: signed-in users go to their own start page; visitors learn what
// Porchlight is and how to join.

import { h } from "../ui.js";

export default {
  title: "Community camera registry",
  async render(ctx) {
    if (ctx.user) {
      ctx.navigate(ctx.homeFor(ctx.user), { replace: true });
      return h("p.loading", "Opening your start page…");
    }
    return h("section",
      h("h1", "A community camera registry that leaves owners in control"),
      h("p.lead", "Residents and businesses register their security cameras with their police department. ",
        "After an incident nearby, an officer can ", h("strong", "ask"), " for footage — and the owner decides, every time."),
      h("div.actions",
        h("a.button.primary", { href: "#/scan" }, "Scan an enrollment QR code"),
        h("a.button", { href: "#/signin" }, "Sign in"),
        h("a.button", { href: "#/signup" }, "Sign up")),
      h("h2", "How it works"),
      h("ul.plain",
        h("li", "Scan the QR code from your neighbourhood’s sheet, or open the link you were sent, and sign up."),
        h("li", "Add your cameras: where they are, which way they look, how long the recorder keeps video."),
        h("li", "When an officer asks, approve, decline or answer “no footage”. Pause or leave at any time.")),
      h("h2", "What keeps it trustworthy"),
      h("ul.plain",
        h("li", "Joining is voluntary and can be undone."),
        h("li", "Officers never see your phone number or e-mail address, nor who declined."),
        h("li", "No face recognition, no plate reading: no video analysis of any kind."),
        h("li", "Every request and every look at shared footage goes into a tamper-evident audit log.")),
      h("p", h("a", { href: "#/transparency" }, "Transparency reports"),
        ": what each police department asked of camera owners, and what they answered."),
      h("p.hint", "Developers: the API and its documentation are at ", h("a", { href: "/api/docs" }, "/api/docs"), "."));
  },
};
