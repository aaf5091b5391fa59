// Helpers shared by the agent desk (agent.js) and the QA page (qa.js), loaded before them
// as a plain script (the pages' CSP allows scripts from our own origin only).
// Values from the server go on the page as text (textContent), never as HTML.
(() => {
  "use strict";
  const TZ = "Asia/Shanghai"; // the centre works on Beijing time, whatever the PC clock says

  const $ = (id) => document.getElementById(id);

  function text(el, value) { el.textContent = value == null || value === "" ? "—" : String(value); }

  // An ISO string from the API, or seconds since the epoch (the screen-pop frames' "at").
  function fmtTime(iso) {
    if (!iso) return "—";
    const d = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
    return d.toLocaleString("zh-CN", { hour12: false, timeZone: TZ });
  }

  // A JSON API caller for a page: the token (read at each call, it changes on log-in) goes in
  // the Authorization header, never in the URL. A failed call throws an Error carrying the
  // server's message and the HTTP status.
  function client(getToken) {
    return async function api(method, path, body) {
      const res = await fetch(path, {
        method,
        headers: { Authorization: `Bearer ${getToken()}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      let data = null;
      try { data = await res.json(); } catch (e) { data = null; }
      if (!res.ok) {
        const err = new Error((data && data.message) || `HTTP ${res.status}`);
        err.status = res.status;
        throw err;
      }
      return data;
    };
  }

  window.CTI = Object.freeze({ $, text, fmtTime, client });
})();
