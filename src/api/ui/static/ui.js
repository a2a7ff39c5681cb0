// enrolsync web page: the few things plain HTML cannot do. No framework; nothing loaded from elsewhere.
"use strict";

// Live run progress: while the run is queued or running, fetch the progress fragment and swap it in.
(function () {
  const POLL_MS = 1000;
  function current() { return document.getElementById("progress"); }
  async function poll() {
    const box = current();
    if (!box || box.dataset.live !== "true") return;
    try {
      const response = await fetch(box.dataset.src, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (response.redirected && response.url.indexOf("/ui/sign-in") !== -1) { window.location.assign(response.url); return; }
      if (response.ok) {
        const holder = document.createElement("div");
        holder.innerHTML = await response.text();
        const fresh = holder.querySelector("#progress");
        if (fresh) {
          const hadFocus = box.contains(document.activeElement) ? document.activeElement.id : null;
          box.replaceWith(fresh);
          if (hadFocus) { const again = document.getElementById(hadFocus); if (again) again.focus(); }
        }
      }
    } catch (error) { /* the server is away for a moment: try again on the next tick */ }
    window.setTimeout(poll, POLL_MS);
  }
  document.addEventListener("DOMContentLoaded", function () { window.setTimeout(poll, POLL_MS); });
})();

// Forms that ask before they act (cancel a run).
document.addEventListener("submit", function (event) {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
