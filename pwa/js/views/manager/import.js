// Bulk enrollment, step by step: the district manager uploads the member spreadsheet
// (with a progress bar), reads the dry-run report (totals, then every problem by line,
// as a list that reads on a phone), and commits it when the file is valid. Nothing is
// saved before the commit, and the screen says so.
//
// /district/import starts afresh; /district/imports/:id shows an earlier upload's report
// (the address the screen moves to after an upload, so a reload keeps the report).

import { get, post } from "../../api.js";
import { clearErrors, setBusy, showErrors } from "../../forms.js";
import { field, formatBytes, formError, formatDateTime, h, replace } from "../../ui.js";
import { countsList, uploadErrorText, uploadFile } from "./common.js";
import { N_, t, tn } from "../../i18n.js";

const ACCEPT = ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PROBLEM_LINES_SHOWN = 50; // lines drawn at first; a button shows the rest
// The columns the server reads (app/districts/importer.py); headers match ignoring case,
// spaces and punctuation, with common aliases ("Mobile" for phone, "Company" for business).
const COLUMNS = [
  ["member_ref", t("your reference for the member"), "required"],
  ["business_name", t("the business’s name"), "required"],
  ["contact_name", t("the person to contact"), "required"],
  ["phone", t("mobile number, for the SMS invitation"), t("phone or e-mail on every row")],
  ["email", t("e-mail address"), t("phone or e-mail on every row")],
  ["address", t("street address"), null],
  [t("latitude, longitude"), t("coordinates in decimal degrees, both or neither"), null],
  ["cameras", t("how many cameras the business expects to register"), null],
];

function columnsHelp() {
  return h("details.import-columns",
    h("summary", t("What the spreadsheet needs")),
    h("p", t("A header row, then one member per row (CSV with commas, semicolons or tabs, or the first sheet of an "
      + "Excel workbook). Columns:")),
    h("ul.plain-list", COLUMNS.map(([name, text, need]) => h("li",
      h("code", name), ` — ${text}`, need ? h("strong", ` (${need})`) : null))),
    h("p.hint", t("Members are matched by reference, mobile number or e-mail: uploading the same file again adds "
      + "nobody twice, and a changed row updates that member.")));
}

// The problems of a report, grouped by line ("whole file" problems first).
function groupProblems(problems) {
  const byLine = new Map();
  for (const problem of problems || []) {
    const line = problem.line === null || problem.line === undefined || problem.line === 0 ? 0 : Number(problem.line);
    if (!byLine.has(line)) {
      byLine.set(line, []);
    }
    byLine.get(line).push(problem);
  }
  return [...byLine.entries()].sort((a, b) => a[0] - b[0]);
}

function problemGroup([line, problems]) {
  return h("li.problem-line", { dataset: { line: String(line) } },
    h("p.problem-where", h("strong", line ? t("Line %(line)s", { line }) : t("Whole file"))),
    h("ul.problem-items", problems.map((problem) => h("li",
      problem.column ? h("span.problem-column", `${problem.column}: `) : null,
      h("span.problem-text", problem.problem || problem.message || "")))));
}

function problemsText(count) {
  return tn("%(count)s problem", "%(count)s problems", count);
}

function linesText(count) {
  return tn("%(count)s line", "%(count)s lines", count);
}

function problemList(report) {
  const groups = groupProblems(report.problems);
  if (!groups.length) {
    return null;
  }
  const rowsWithProblems = groups.filter(([line]) => line !== 0).length;
  const list = h("ul.problem-list", { "aria-labelledby": "import-problems-title" },
    groups.slice(0, PROBLEM_LINES_SHOWN).map(problemGroup));
  const rest = groups.slice(PROBLEM_LINES_SHOWN);
  let more = null;
  if (rest.length) {
    more = h("button", { type: "button" }, tn("Show %(count)s more line", "Show %(count)s more lines", rest.length));
    more.addEventListener("click", () => {
      const first = problemGroup(rest[0]);
      list.append(first, ...rest.slice(1).map(problemGroup));
      more.remove();
      first.setAttribute("tabindex", "-1");
      first.focus();
    });
  }
  const kept = (report.problems || []).length;
  const total = Math.max(kept, report.problems_total || 0);
  return h("section.import-problems", { "aria-labelledby": "import-problems-title" },
    h("h3", { id: "import-problems-title" }, rowsWithProblems
      ? t("%(problems)s on %(lines)s", { problems: problemsText(total), lines: linesText(rowsWithProblems) })
      : problemsText(total)),
    h("p.hint", t("Line numbers are those of your spreadsheet, the header row being line 1.")),
    total > kept ? h("p.hint", t("The first %(kept)s problems are listed; correct them and upload again to see the rest.", { kept }))
      : null,
    list, more);
}

export default {
  title: N_("Import members"),
  async render(ctx) {
    let closed = false;
    let upload = null; // the running upload: {abort}

    const input = h("input", { id: "import-file", name: "file", type: "file", accept: ACCEPT, required: true });
    const submit = h("button.primary", { type: "submit" }, t("Upload and check"));
    const form = h("form.import-form.uploader", { novalidate: true },
      formError(),
      field(t("Member spreadsheet"), input, { hint: t("CSV or Excel (.xlsx). It is checked first; nothing is saved yet.") }),
      h("div.actions", submit));

    const bar = h("progress", { id: "import-progress", max: 100, value: 0 });
    const progressDetail = h("p.hint.import-progress-detail");
    // Read out at a few steps only, not at every percent.
    const progressSaid = h("p.import-progress-status", { role: "status", "aria-live": "polite" });
    const cancel = h("button", { type: "button" }, t("Stop the upload"));
    const progressBox = h("div.import-progress", { hidden: true },
      h("label", { for: "import-progress" }, t("Upload progress")), bar, progressDetail, progressSaid,
      h("div.actions", cancel));
    cancel.addEventListener("click", () => { if (upload) { upload.abort(); } });

    const uploadError = h("div.import-error", { role: "alert" });
    const reportBox = h("div.import-report");
    const uploadStep = h("section.import-upload", { "aria-labelledby": "import-upload-title" },
      h("h2", { id: "import-upload-title" }, t("Upload a spreadsheet")),
      columnsHelp(), form, progressBox, uploadError);

    function showProgress(file, sent, total) {
      const percent = total ? Math.min(100, Math.round((sent / total) * 100)) : 0;
      bar.value = percent;
      bar.setAttribute("aria-valuetext", `${percent}%`);
      progressDetail.textContent = t("%(name)s: %(sent)s of %(total)s sent (%(percent)s).",
        { name: file.name, sent: formatBytes(sent), total: formatBytes(total), percent: `${percent}%` });
      const step = Math.floor(percent / 25) * 25;
      if (step !== Number(progressSaid.dataset.step || -1)) {
        progressSaid.dataset.step = String(step);
        progressSaid.textContent = t("Uploading %(name)s: %(step)s.", { name: file.name, step: `${step}%` });
      }
    }

    function resetUpload() {
      form.reset();
      replace(uploadError);
      replace(reportBox);
      uploadStep.hidden = false;
      history.replaceState(null, "", "#/district/import");
      input.focus();
    }

    async function start(event) {
      event.preventDefault();
      clearErrors(form);
      replace(uploadError);
      const file = input.files && input.files[0];
      if (!file) {
        showErrors(form, { message: t("Please check the fields marked below."),
          fields: { file: [t("Choose the spreadsheet to upload.")] } });
        return;
      }
      replace(reportBox);
      setBusy(form, true);
      input.disabled = true;
      progressBox.hidden = false;
      cancel.hidden = false;
      delete progressSaid.dataset.step;
      showProgress(file, 0, file.size);
      upload = uploadFile("/api/district/imports", file, {
        onProgress: (sent, total) => showProgress(file, sent, total),
        onSent: () => {
          cancel.hidden = true;
          bar.removeAttribute("value"); // indeterminate while the server reads every row
          bar.setAttribute("aria-valuetext", t("Checking"));
          progressDetail.textContent = t("%(name)s is uploaded (%(size)s).", { name: file.name, size: formatBytes(file.size) });
          progressSaid.textContent = t("Upload complete. Checking every row…");
        },
      });
      const answer = await upload.promise;
      upload = null;
      if (closed) {
        return;
      }
      setBusy(form, false);
      input.disabled = false;
      progressBox.hidden = true;
      if (!answer.ok) {
        const [headline, ...details] = uploadErrorText(answer);
        const fieldMessages = Object.values((answer.error && answer.error.fields) || {}).flat();
        const title = h("h2", { tabindex: "-1" }, answer.aborted ? t("Upload stopped") : t("The file was not accepted"));
        replace(uploadError, h("div.alert", { dataset: { status: String(answer.status) } },
          title,
          h("p", h("strong", headline)),
          details.filter((text) => text && text !== headline).map((text) => h("p", text)),
          fieldMessages.length ? h("ul", fieldMessages.map((text) => h("li", text))) : null,
          answer.aborted ? null : h("p", t("Nothing has been saved."))));
        title.focus();
        return;
      }
      history.replaceState(null, "", `#/district/imports/${answer.data.id}`);
      showReport(answer.data);
    }
    form.addEventListener("submit", start);

    // Draws the report of `report`; `justCommitted`: the commit just succeeded on this screen.
    function showReport(report, { justCommitted = false } = {}) {
      const committed = report.status === "committed";
      const valid = report.status === "validated";
      const summary = report.summary || {};
      const heading = h("h2", { id: "import-report-title", tabindex: "-1" },
        committed ? t("%(filename)s: imported", { filename: report.filename }) : valid ? t("%(filename)s: ready to import", { filename: report.filename })
          : report.status === "expired" ? t("%(filename)s: check expired", { filename: report.filename })
            : t("%(filename)s: cannot be imported", { filename: report.filename }));
      let savedText;
      if (justCommitted) {
        savedText = [h("strong", t("Saved.")), t(" The members are in your district now.")];
      } else if (committed) {
        savedText = [h("strong", t("This file has been imported")),
          report.committed_at ? [" on ", formatDateTime(report.committed_at)] : null, "."];
      } else {
        savedText = [h("strong", t("Nothing has been saved yet.")), valid
          ? t(" Check the figures, then import the file.")
          : report.status === "expired" ? t(" Upload the file again to check it anew.")
            : t(" Correct the problems below in your spreadsheet, save it and upload it again.")];
      }
      const saved = h("p.import-saved", { dataset: { saved: String(committed) } }, savedText);
      const rowsWithProblems = Math.max(0, (report.rows_total || 0) - (report.rows_valid || 0));
      const actions = h("div.actions.import-actions");
      const again = h("button", { type: "button" },
        report.status === "rejected" ? t("Upload a corrected file") : t("Upload a different file"));
      again.addEventListener("click", resetUpload);
      const commitError = h("div.commit-error", { role: "alert" });
      const busy = h("p.commit-busy", { role: "status" });

      if (valid) {
        const commit = h("button.primary", { type: "button" },
          (summary.new || summary.updated)
            ? t("Import: %(new)s new, %(updated)s updated", { new: summary.new || 0, updated: summary.updated || 0 })
            : t("Import (no changes)"));
        commit.addEventListener("click", async () => {
          commit.disabled = true;
          commit.setAttribute("aria-busy", "true");
          replace(commitError);
          busy.textContent = t("Saving the members…");
          const answer = await post(`/api/district/imports/${report.id}/commit`);
          if (closed) {
            return;
          }
          commit.removeAttribute("aria-busy");
          busy.textContent = "";
          if (!answer.ok) {
            commit.disabled = false;
            const message = h("p", { tabindex: "-1" }, answer.error.message);
            replace(commitError, h("div.alert", { dataset: { status: String(answer.status) } }, message));
            message.focus();
            return;
          }
          showReport({ ...report, status: "committed", committed_at: answer.data.committed_at, result: answer.data },
            { justCommitted: true });
        });
        actions.append(commit, again);
      } else if (!committed || !report.result) {
        actions.append(again);
      }
      const done = committed && report.result ? committedResult(report.result) : null;
      replace(reportBox, reportSection(report, heading, saved, rowsWithProblems), done, commitError, busy, actions);
      uploadStep.hidden = true;
      if (justCommitted && done) {
        done.querySelector("h3").focus();
        const { created = 0, updated = 0, unchanged = 0 } = report.result;
        ctx.announce(t("Import complete: %(created)s new, %(updated)s updated, %(unchanged)s unchanged.", { created, updated, unchanged }));
        return;
      }
      heading.focus();
      ctx.announce(valid ? t("%(filename)s is ready to import. Nothing has been saved yet.", { filename: report.filename })
        : committed ? t("%(filename)s was imported.", { filename: report.filename })
          : tn("%(filename)s cannot be imported: %(count)s line with problems.",
            "%(filename)s cannot be imported: %(count)s lines with problems.", rowsWithProblems,
            { filename: report.filename }));
    }

    function committedResult({ created = 0, updated = 0, unchanged = 0 }) {
      return h("div.success.import-done",
        h("h3", { tabindex: "-1" }, t("Import complete")),
        countsList(t("Import result"), [["created", t("New members"), created], ["updated", t("Updated"), updated],
          ["unchanged", t("Unchanged"), unchanged]]),
        h("p", created
          ? t("Each new member has a single-use enrollment code. Next: send the SMS invitations or print the QR sheet.")
          : t("Nobody new was added.")),
        h("div.actions",
          h("a.button.primary", { href: "#/district/members" }, t("Open the dashboard")),
          h("a.button", { href: "#/district/import" }, t("Import another file"))));
    }

    function reportSection(report, heading, saved, rowsWithProblems) {
      const summary = report.summary || {};
      return h("section.import-report-body", { "aria-labelledby": "import-report-title",
        dataset: { status: report.status, importId: String(report.id) } },
      heading,
      saved,
      h("h3", t("Rows")),
      countsList(t("Rows in the file"), [
        ["rows", t("Rows"), report.rows_total],
        ["valid", t("Valid"), report.rows_valid],
        ["problems", t("With problems"), rowsWithProblems]]),
      // Only a valid file is matched against the members (a committed one shows its result).
      report.status !== "validated" ? null : [
        h("h3", t("What importing it does")),
        countsList(t("What importing it does"), [
          ["new", t("New members"), summary.new],
          ["updated", t("Updated"), summary.updated],
          ["unchanged", t("Unchanged"), summary.unchanged]])],
      report.ignored_columns && report.ignored_columns.length
        ? h("p.hint.ignored-columns", t("Columns not read: %(columns)s.", { columns: report.ignored_columns.join(", ") }))
        : null,
      report.status === "validated" && report.expires_at
        ? h("p.hint", t("Import it before %(when)s; after that, upload the file again.",
          { when: formatDateTime(report.expires_at) }))
        : null,
      report.status === "expired"
        ? h("p.hint", t("This check expired before it was imported: upload the file again.")) : null,
      problemList(report));
    }

    let initial = null;
    if (ctx.params.id) {
      const answer = await get(`/api/district/imports/${encodeURIComponent(ctx.params.id)}`);
      if (!ctx.current) {
        return null;
      }
      if (!answer.ok) {
        initial = h("div.alert", { role: "alert" }, h("p", answer.error.message),
          h("p", h("a", { href: "#/district/import" }, t("Start a new import"))));
      } else {
        initial = answer.data;
      }
    }

    const node = h("section.manager.district-import",
      h("h1", t("Import members")),
      h("p.lead", t("Enroll many member businesses at once from a spreadsheet. Porchlight checks every row and "
        + "shows you what it found; members are saved only when you confirm.")),
      initial instanceof Node ? initial : null,
      uploadStep,
      reportBox);
    if (initial && !(initial instanceof Node)) {
      // After the shell has focused the h1, move on to the report it shows.
      setTimeout(() => { if (!closed) { showReport(initial); } }, 0);
    }
    return {
      node,
      cleanup() {
        closed = true;
        if (upload) {
          upload.abort();
        }
      },
    };
  },
};
