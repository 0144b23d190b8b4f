// Shipshape web UI: small progressive enhancements. Every page works
// without this file; it only saves clicks.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A drop-down marked data-autosubmit submits its form when changed (the
  // digest chooser); its submit button stays for keyboard users who prefer it.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }

  // A list of checkboxes (data-row) with a select-all box and a drawer: the
  // drawer's button shows only while rows are selected, with their count.
  // Without this script the boxes, the button and the drawer still work.
  for (const form of document.querySelectorAll("form[data-selection]")) {
    const rows = [...form.querySelectorAll("input[data-row]")];
    const all = form.querySelector("input[data-select-all]");
    const drawer = form.querySelector("details[data-drawer]");
    const count = form.querySelector("[data-selected-count]");
    const update = () => {
      const selected = rows.filter((row) => row.checked).length;
      if (drawer) {
        drawer.hidden = selected === 0;
        if (selected === 0) drawer.open = false;
      }
      if (count) count.textContent = selected > 0 ? ` (${selected})` : "";
      if (all) {
        all.checked = selected > 0 && selected === rows.length;
        all.indeterminate = selected > 0 && selected < rows.length;
      }
    };
    if (all) {
      all.hidden = false;
      all.addEventListener("change", () => {
        for (const row of rows) row.checked = all.checked;
        update();
      });
    }
    for (const row of rows) row.addEventListener("change", update);
    update();
  }

  // Drawers: opening one focuses its first field; Close and Escape shut it.
  for (const drawer of document.querySelectorAll("details[data-drawer]")) {
    drawer.addEventListener("toggle", () => {
      if (drawer.open) drawer.querySelector("textarea, input:not([type=hidden])")?.focus();
    });
    for (const close of drawer.querySelectorAll("[data-close-drawer]")) {
      close.addEventListener("click", () => {
        drawer.open = false;
        drawer.querySelector("summary")?.focus();
      });
    }
  }
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const drawer of document.querySelectorAll("details[data-drawer][open]")) {
      drawer.open = false;
    }
  });
});
