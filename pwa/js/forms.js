// Form helpers: read values, mark a form busy, and show the API's errors where they belong.
//
// Each input's error paragraph has the id `<input id>-error`; each form has one
// `.form-error` paragraph for errors that belong to no single input.

import { t } from "./i18n.js";

export function values(form) {
  const result = {};
  for (const element of form.elements) {
    if (!element.name || element.type === "submit" || element.type === "button" || element.type === "checkbox") {
      continue;
    }
    // Passwords are taken as typed; everything else without surrounding spaces.
    const value = element.type === "password" ? element.value : element.value.trim();
    if (value !== "") {
      result[element.name] = value;
    }
  }
  return result;
}

export function setBusy(form, busy) {
  form.setAttribute("aria-busy", busy ? "true" : "false");
  for (const button of form.querySelectorAll("button[type=submit]")) {
    button.disabled = busy;
  }
}

function formError(form) {
  return form.querySelector(".form-error");
}

export function clearErrors(form) {
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
  }
  for (const message of form.querySelectorAll(".field-error, .form-error")) {
    message.textContent = "";
    message.hidden = true;
  }
}

function showFormError(form, text) {
  const message = formError(form);
  message.hidden = false;
  message.textContent = text;
  return message;
}

// Shows `error` ({code, message, fields?}) in `form`, then moves focus to the first problem.
export function showErrors(form, error) {
  clearErrors(form);
  const unplaced = [];
  let first = null;
  for (const [name, messages] of Object.entries(error.fields || {})) {
    const input = form.elements.namedItem(name);
    const slot = input && input.id ? document.getElementById(`${input.id}-error`) : null;
    if (!slot) {
      unplaced.push(...messages);
      continue;
    }
    input.setAttribute("aria-invalid", "true");
    slot.hidden = false;
    slot.textContent = messages.join(" ");
    first = first || input;
  }
  // Focus goes to the first problem on screen, whatever order the answer named them in.
  first = form.querySelector("[aria-invalid=true]") || first;
  let summary;
  if (first && unplaced.length === 0) {
    summary = showFormError(form, t("Please check the fields marked below."));
  } else {
    summary = showFormError(form, unplaced.length && first ? unplaced.join(" ") : error.message);
  }
  (first || summary).focus();
}

export function showMessage(form, text) {
  clearErrors(form);
  showFormError(form, text).focus();
}
