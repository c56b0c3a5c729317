// Live updates: each element with data-live="URL" is replaced every second by the server-rendered
// (and escaped) HTML at URL. Nothing else runs here; attacker content never reaches a script.
"use strict";
for (const element of document.querySelectorAll("[data-live]")) {
  const url = element.dataset.live;
  const refresh = async () => {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (response.ok) {
        const html = await response.text();
        if (html !== element.dataset.last) {
          element.innerHTML = html;
          element.dataset.last = html;
        }
      }
    } catch (error) {
      // the console went away for a moment; try again on the next tick
    }
    setTimeout(refresh, 1000);
  };
  setTimeout(refresh, 1000);
}
