// The agencies that publish a transparency report (all of them), for anyone.

import { get } from "../../api.js";
import { errorCard, h } from "../../ui.js";
import { N_, t } from "../../i18n.js";
import { checkpointsSection } from "./common.js";

const CHECKPOINTS = "/api/public/audit/checkpoints";

export default {
  title: N_("Transparency reports"),
  async render() {
    const [answer, checkpoints] = await Promise.all([get("/api/public/agencies"), get(CHECKPOINTS)]);
    return h("section.transparency",
      h("h1", t("Transparency reports")),
      h("p.lead", t("Every police department using Porchlight publishes what it asks of camera owners: "),
        t("requests per month, their outcomes, response times and camera counts per area. No sign-in needed.")),
      !answer.ok ? errorCard(answer.error)
        : answer.data.length === 0 ? h("p.empty", t("No agency uses this Porchlight server yet."))
          : h("ul.plain.transparency-agencies", answer.data.map((agency) => h("li",
            h("a", { href: `#/transparency/${encodeURIComponent(agency.slug)}` }, agency.name)))),
      checkpoints.ok ? checkpointsSection(checkpoints.data, CHECKPOINTS,
        t("What happens outside any agency (sign-ins, owners’ own changes, the operator’s commands) is recorded in the installation’s tamper-evident audit log; each agency’s report has its own.")) : null);
  },
};
