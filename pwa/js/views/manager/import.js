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
import { countsList, plural, uploadErrorText, uploadFile } from "./common.js";

const ACCEPT = ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PROBLEM_LINES_SHOWN = 50; // lines drawn at first; a button shows the rest
// The columns the server reads (app/districts/importer.py); headers match ignoring case,
// spaces and punctuation, with common aliases ("Mobile" for phone, "Company" for business).
const COLUMNS = [
  ["member_ref", "your reference for the member", "required"],
  ["business_name", "the business’s name", "required"],
  ["contact_name", "the person to contact", "required"],
  ["phone", "mobile number, for the SMS invitation", "phone or e-mail on every row"],
  ["email", "e-mail address", "phone or e-mail on every row"],
  ["address", "street address", null],
  ["latitude, longitude", "coordinates in decimal degrees, both or neither", null],
  ["cameras", "how many cameras the business expects to register", null],
];

function columnsHelp() {
  return h("details.import-columns",
    h("summary", "What the spreadsheet needs"),
    h("p", "A header row, then one member per row (CSV with commas, semicolons or tabs, or the first sheet of an "
      + "Excel workbook). Columns:"),
    h("ul.plain-list", COLUMNS.map(([name, text, need]) => h("li",
      h("code", name), ` — ${text}`, need ? h("strong", ` (${need})`) : null))),
    h("p.hint", "Members are matched by reference, mobile number or e-mail: uploading the same file again adds "
      + "nobody twice, and a changed row updates that member."));
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
    h("p.problem-where", h("strong", line ? `Line ${line}` : "Whole file")),
    h("ul.problem-items", problems.map((problem) => h("li",
      problem.column ? h("span.problem-column", `${problem.column}: `) : null,
      h("span.problem-text", problem.problem || problem.message || "")))));
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
    more = h("button", { type: "button" }, `Show ${plural(rest.length, "more line")}`);
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
    h("h3", { id: "import-problems-title" }, `${plural(total, "problem")}`,
      rowsWithProblems ? ` on ${plural(rowsWithProblems, "line")}` : ""),
    h("p.hint", "Line numbers are those of your spreadsheet, the header row being line 1."),
    total > kept ? h("p.hint", `The first ${kept} problems are listed; correct them and upload again to see the rest.`)
      : null,
    list, more);
}

export default {
  title: "Import members",
  async render(ctx) {
    let closed = false;
    let upload = null; // the running upload: {abort}

    const input = h("input", { id: "import-file", name: "file", type: "file", accept: ACCEPT, required: true });
    const submit = h("button.primary", { type: "submit" }, "Upload and check");
    const form = h("form.import-form.uploader", { novalidate: true },
      formError(),
      field("Member spreadsheet", input, { hint: "CSV or Excel (.xlsx). It is checked first; nothing is saved yet." }),
      h("div.actions", submit));

    const bar = h("progress", { id: "import-progress", max: 100, value: 0 });
    const progressDetail = h("p.hint.import-progress-detail");
    // Read out at a few steps only, not at every percent.
    const progressSaid = h("p.import-progress-status", { role: "status", "aria-live": "polite" });
    const cancel = h("button", { type: "button" }, "Stop the upload");
    const progressBox = h("div.import-progress", { hidden: true },
      h("label", { for: "import-progress" }, "Upload progress"), bar, progressDetail, progressSaid,
      h("div.actions", cancel));
    cancel.addEventListener("click", () => { if (upload) { upload.abort(); } });

    const uploadError = h("div.import-error", { role: "alert" });
    const reportBox = h("div.import-report");
    const uploadStep = h("section.import-upload", { "aria-labelledby": "import-upload-title" },
      h("h2", { id: "import-upload-title" }, "Upload a spreadsheet"),
      columnsHelp(), form, progressBox, uploadError);

    function showProgress(file, sent, total) {
      const percent = total ? Math.min(100, Math.round((sent / total) * 100)) : 0;
      bar.value = percent;
      bar.setAttribute("aria-valuetext", `${percent}%`);
      progressDetail.textContent = `${file.name}: ${formatBytes(sent)} of ${formatBytes(total)} sent (${percent}%).`;
      const step = Math.floor(percent / 25) * 25;
      if (step !== Number(progressSaid.dataset.step || -1)) {
        progressSaid.dataset.step = String(step);
        progressSaid.textContent = `Uploading ${file.name}: ${step}%.`;
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
        showErrors(form, { message: "Please check the fields marked below.",
          fields: { file: ["Choose the spreadsheet to upload."] } });
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
          bar.setAttribute("aria-valuetext", "Checking");
          progressDetail.textContent = `${file.name} is uploaded (${formatBytes(file.size)}).`;
          progressSaid.textContent = "Upload complete. Checking every row…";
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
        const title = h("h2", { tabindex: "-1" }, answer.aborted ? "Upload stopped" : "The file was not accepted");
        replace(uploadError, h("div.alert", { dataset: { status: String(answer.status) } },
          title,
          h("p", h("strong", headline)),
          details.filter((text) => text && text !== headline).map((text) => h("p", text)),
          fieldMessages.length ? h("ul", fieldMessages.map((text) => h("li", text))) : null,
          answer.aborted ? null : h("p", "Nothing has been saved.")));
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
        committed ? `${report.filename}: imported` : valid ? `${report.filename}: ready to import`
          : report.status === "expired" ? `${report.filename}: check expired`
            : `${report.filename}: cannot be imported`);
      let savedText;
      if (justCommitted) {
        savedText = [h("strong", "Saved."), " The members are in your district now."];
      } else if (committed) {
        savedText = [h("strong", "This file has been imported"),
          report.committed_at ? [" on ", formatDateTime(report.committed_at)] : null, "."];
      } else {
        savedText = [h("strong", "Nothing has been saved yet."), valid
          ? " Check the figures, then import the file."
          : report.status === "expired" ? " Upload the file again to check it anew."
            : " Correct the problems below in your spreadsheet, save it and upload it again."];
      }
      const saved = h("p.import-saved", { dataset: { saved: String(committed) } }, savedText);
      const rowsWithProblems = Math.max(0, (report.rows_total || 0) - (report.rows_valid || 0));
      const actions = h("div.actions.import-actions");
      const again = h("button", { type: "button" },
        report.status === "rejected" ? "Upload a corrected file" : "Upload a different file");
      again.addEventListener("click", resetUpload);
      const commitError = h("div.commit-error", { role: "alert" });
      const busy = h("p.commit-busy", { role: "status" });

      if (valid) {
        const commit = h("button.primary", { type: "button" },
          (summary.new || summary.updated) ? `Import: ${summary.new || 0} new, ${summary.updated || 0} updated`
            : "Import (no changes)");
        commit.addEventListener("click", async () => {
          commit.disabled = true;
          commit.setAttribute("aria-busy", "true");
          replace(commitError);
          busy.textContent = "Saving the members…";
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
        ctx.announce(`Import complete: ${created} new, ${updated} updated, ${unchanged} unchanged.`);
        return;
      }
      heading.focus();
      ctx.announce(valid ? `${report.filename} is ready to import. Nothing has been saved yet.`
        : committed ? `${report.filename} was imported.`
          : `${report.filename} cannot be imported: ${plural(rowsWithProblems, "line")} with problems.`);
    }

    function committedResult({ created = 0, updated = 0, unchanged = 0 }) {
      return h("div.success.import-done",
        h("h3", { tabindex: "-1" }, "Import complete"),
        countsList("Import result", [["created", "New members", created], ["updated", "Updated", updated],
          ["unchanged", "Unchanged", unchanged]]),
        h("p", created
          ? "Each new member has a single-use enrollment code. Next: send the SMS invitations or print the QR sheet."
          : "Nobody new was added."),
        h("div.actions",
          h("a.button.primary", { href: "#/district/members" }, "Open the dashboard"),
          h("a.button", { href: "#/district/import" }, "Import another file")));
    }

    function reportSection(report, heading, saved, rowsWithProblems) {
      const summary = report.summary || {};
      return h("section.import-report-body", { "aria-labelledby": "import-report-title",
        dataset: { status: report.status, importId: String(report.id) } },
      heading,
      saved,
      h("h3", "Rows"),
      countsList("Rows in the file", [
        ["rows", "Rows", report.rows_total],
        ["valid", "Valid", report.rows_valid],
        ["problems", "With problems", rowsWithProblems]]),
      // Only a valid file is matched against the members (a committed one shows its result).
      report.status !== "validated" ? null : [
        h("h3", "What importing it does"),
        countsList("What importing it does", [
          ["new", "New members", summary.new],
          ["updated", "Updated", summary.updated],
          ["unchanged", "Unchanged", summary.unchanged]])],
      report.ignored_columns && report.ignored_columns.length
        ? h("p.hint.ignored-columns", `Columns not read: ${report.ignored_columns.join(", ")}.`) : null,
      report.status === "validated" && report.expires_at
        ? h("p.hint", `Import it before ${formatDateTime(report.expires_at)}; after that, upload the file again.`)
        : null,
      report.status === "expired"
        ? h("p.hint", "This check expired before it was imported: upload the file again.") : null,
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
          h("p", h("a", { href: "#/district/import" }, "Start a new import")));
      } else {
        initial = answer.data;
      }
    }

    const node = h("section.manager.district-import",
      h("h1", "Import members"),
      h("p.lead", "Enroll many member businesses at once from a spreadsheet. Porchlight checks every row and "
        + "shows you what it found; members are saved only when you confirm."),
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
