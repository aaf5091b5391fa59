// Helpers shared by the agent desk (agent.js), the QA page (qa.js) and the wallboard
// (wallboard.js), loaded before them as a plain script (the pages' CSP allows scripts from
// our own origin only).
// Values from the server go on the page as text (textContent), never as HTML.
(() => {
  "use strict";
  const TZ = "Asia/Shanghai"; // the centre works on Beijing time, whatever the PC clock says

  const $ = (id) => document.getElementById(id);

  function el(tag, cls, content) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (content != null) node.textContent = String(content);
    return node;
  }

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

  // Every page's token log-in: #login-form (#token, #login-error) and the #logout button. A
  // token that works hides #login-box, shows the page's own box (`main`) and #logout, and is
  // kept in sessionStorage under `key` (this tab only) to log in again when the page reloads.
  //   check(): the page's first API call, made with the candidate token; throwing refuses it.
  //   enter(answer): the page starts, with check's answer.
  //   forget: more sessionStorage keys to clear at log-out; leave(): runs before the reload.
  // Returns the page's API caller (`api`, see client), `token()`, and `resume()`: log in with
  // the kept token; a page calls it last, once everything enter uses is set up.
  function tokenLogin({ key, main, check, enter, forget = [], leave = () => {} }) {
    let token = sessionStorage.getItem(key) || "";
    const api = client(() => token);

    async function login(candidate) {
      token = candidate;
      const answer = await check();
      sessionStorage.setItem(key, token);
      $("login-box").hidden = true;
      $(main).hidden = false;
      $("logout").hidden = false;
      await enter(answer);
    }

    $("login-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      $("login-error").textContent = "";
      try {
        await login($("token").value.trim());
      } catch (e) {
        token = "";
        $("login-error").textContent = `登录失败：${e.message}`;
      }
    });

    $("logout").addEventListener("click", () => {
      sessionStorage.removeItem(key);
      for (const other of forget) sessionStorage.removeItem(other);
      leave();
      location.reload();
    });

    function resume() {
      if (token) login(token).catch(() => { sessionStorage.removeItem(key); token = ""; });
    }

    return { api, token: () => token, resume };
  }

  // A live WebSocket to `path` on this host. Its first message is hello() (the token goes
  // there, never in the URL: URLs end up in logs); every frame goes to onFrame. When it
  // closes (onClose sees it first) it reconnects with a growing delay, unless the server
  // refused the token (4401/4403). #conn shows how it stands.
  function liveSocket(path, { hello, onFrame, onClose = () => {} }) {
    let ws = null;
    let retry = 0;

    function connect() {
      const proto = location.protocol === "https:" ? "wss" : "ws";
      const first = hello();
      ws = new WebSocket(`${proto}://${location.host}${path}`);
      ws.onopen = () => { retry = 0; ws.send(JSON.stringify(first)); };
      ws.onmessage = (msg) => onFrame(JSON.parse(msg.data));
      ws.onclose = (ev) => {
        $("conn").className = "conn off";
        onClose(ev);
        if (ev.code === 4401 || ev.code === 4403) {
          $("conn").textContent = "令牌无效";
          return;
        }
        $("conn").textContent = "重连中…";
        retry = Math.min(retry + 1, 6);
        setTimeout(connect, 250 * 2 ** retry);
      };
    }

    return { connect, close() { if (ws) ws.close(); } };
  }

  window.CTI = Object.freeze({ TZ, $, el, text, fmtTime, client, tokenLogin, liveSocket });
})();
