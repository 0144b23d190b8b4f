// Shipshape web UI: small progressive enhancements. Every page works
// without this file; it only saves clicks.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A drop-down marked data-autosubmit submits its form when changed (the
  // digest chooser); its submit button stays for keyboard users who prefer it.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
});
