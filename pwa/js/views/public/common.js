// What the public pages share: the signed checkpoints of the audit log, as the transparency
// pages show them (the installation's public key, the newest checkpoint, and the JSON
// document to keep: GET /api/public/audit/checkpoints, /api/public/agencies/<slug>/checkpoints).

import { h, time } from "../../ui.js";
import { t } from "../../i18n.js";

export function checkpointsSection(doc, href, whose) {
  const latest = doc.checkpoints[0];
  return h("section.transparency-checkpoints", { "aria-labelledby": "checkpoints-heading" },
    h("h2", { id: "checkpoints-heading" }, t("Signed audit checkpoints")),
    h("p", whose),
    h("p", t("Every day Porchlight signs the newest entry of the log and publishes the signature here. "),
      t("Keep a copy: if entries were later removed or rewritten, the log would no longer match a checkpoint published before, and anyone could show it.")),
    latest
      ? h("p.checkpoint-latest", t("Latest checkpoint: entry %(seq)s, signed ", { seq: latest.seq }), time(latest.signed_at), ".")
      : h("p.empty", t("No checkpoint has been signed yet.")),
    h("dl.stacked",
      h("dt", t("Public key (Ed25519)")), h("dd", h("code.public-key", doc.public_key)),
      h("dt", t("Key id")), h("dd", h("code", doc.key_id))),
    h("p", h("a.button", { href, download: "" }, t("Download the signed checkpoints (JSON)"))),
    h("p.hint", t("The same key signs the receipts owners get for the clips they share.")));
}
