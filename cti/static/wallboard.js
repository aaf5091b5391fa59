// 实时大屏: per queue the waiting callers and longest wait, today's figures and service level,
// charts over the day, every agent's state live. Live figures come pushed over
// WS /ws/supervisor (no polling); today's figures are fetched again when a call ends.
// Every value from the server is put on the page with textContent, never as HTML.
(() => {
  "use strict";
  const { TZ, $, el, text } = window.CTI; // common.js
  const STATES = {
    available: "空闲", ringing: "振铃", on_call: "通话中", wrap_up: "话后处理",
    paused: "小休", logged_out: "未签入",
  };
  const REASONS = { lunch: "午餐", training: "培训", after_call_work: "话后处理", meeting: "会议", break: "休息" };
  const LONG_WAIT_S = 60; // a caller waiting longer turns the queue red
  const SL_TARGET = 0.8;
  const AXIS_FONT = '18px "Noto Sans CJK SC", sans-serif'; // read from across the room
  const REFRESH_AFTER_CALL_MS = 3000; // today's figures: at most one fetch per 3 s of call ends

  const queues = new Map(); // name -> {el, live, receivedAt, charts, series}
  const agents = new Map(); // extension -> {extension, name, state, since, paused_reason, queues}
  let pauseReasons = [];
  let refreshTimer = null;
  // Asterisk's clock minus the browser's (s): states' "since" are Asterisk times, and the
  // TV's clock may be off; every live figure carries Asterisk's "at".
  let asteriskOffset = 0;
  function asteriskNow() { return Date.now() / 1000 + asteriskOffset; }

  // --- helpers ----------------------------------------------------------------------------
  function fmtWait(s) {
    if (s == null) return "—";
    s = Math.max(0, Math.floor(s));
    const two = (n) => String(n).padStart(2, "0");
    const mmss = `${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
    return s >= 3600 ? `${Math.floor(s / 3600)}:${mmss}` : mmss;
  }
  function pct(x) { return x == null ? "—" : `${Math.round(x * 1000) / 10}%`; }
  function epoch(iso) { return iso ? Date.parse(iso) / 1000 : null; }
  function reasonLabel(r) { return r ? (REASONS[r] || r) : ""; }
  function hhmm(ts) {
    return new Date(ts * 1000).toLocaleTimeString("zh-CN", { hour12: false, timeZone: TZ, hour: "2-digit", minute: "2-digit" });
  }
  function dayStart() { return Date.parse(todayStart()) / 1000; }
  function todayStart() {
    const ymd = new Date().toLocaleDateString("sv-SE", { timeZone: TZ }); // 2026-12-06
    return `${ymd}T00:00:00+08:00`;
  }

  // --- login ------------------------------------------------------------------------------
  const { api, token, resume } = window.CTI.tokenLogin({
    key: "cti_wallboard_token",
    main: "board",
    check: () => api("GET", "/api/v1/queues"),
    enter: async (page) => {
      for (const q of page.items) showQueue(q);
      await loadAgents();
      for (const name of queues.keys()) loadServiceLevel(name);
      socket.connect();
    },
  });
  $("ops-toggle").addEventListener("click", () => {
    document.body.dataset.ops = document.body.dataset.ops === "1" ? "0" : "1";
  });

  // --- queues -----------------------------------------------------------------------------
  function queueBox(name) {
    let q = queues.get(name);
    if (q) return q;
    const node = $("queue-tpl").content.firstElementChild.cloneNode(true);
    node.dataset.queue = name;
    node.querySelector(".queue-name").textContent = `队列 ${name}`;
    $("queues").appendChild(node);
    q = { el: node, live: null, receivedAt: 0, charts: {}, series: [[], []], sl: null };
    queues.set(name, q);
    return q;
  }
  function fig(q, name) { return q.el.querySelector(`[data-figure="${name}"]`); }

  function showLive(live) {
    const q = queueBox(live.queue);
    q.live = live;
    q.receivedAt = Date.now();
    const at = epoch(live.at);
    if (at != null) asteriskOffset = at - Date.now() / 1000;
    fig(q, "waiting").textContent = String(live.waiting);
    q.el.dataset.waiting = String(live.waiting);
    const a = live.agents;
    for (const k of ["available", "ringing", "on_call", "wrap_up", "paused", "logged_out"]) {
      q.el.querySelector(`[data-count="${k}"]`).textContent = String(a[k]);
    }
    const reasons = Object.entries(a.paused_by_reason || {})
      .map(([r, n]) => `${reasonLabel(r) || "未说明"}×${n}`).join(" ");
    q.el.querySelector('[data-count="reasons"]').textContent = reasons;
    tickQueue(q);
  }

  function showToday(name, today) {
    const q = queueBox(name);
    if (!today) {
      for (const f of ["sl", "offered", "answered", "abandoned"]) text(fig(q, f), null);
      return;
    }
    fig(q, "sl").textContent = pct(today.service_level);
    fig(q, "sl").className = `value ${today.service_level == null ? "" : today.service_level >= SL_TARGET ? "sl-good" : "sl-bad"}`;
    fig(q, "offered").textContent = String(today.offered);
    fig(q, "answered").textContent = String(today.answered);
    fig(q, "abandoned").textContent = String(today.abandoned);
  }

  function showQueue(full) {
    showLive(full);
    showToday(full.queue, full.today);
    const q = queueBox(full.queue);
    q.series = [
      full.waiting_series.map((p) => epoch(p.at)),
      full.waiting_series.map((p) => p.waiting),
    ];
    drawWaiting(q);
  }

  // The longest wait counts up on the page between frames (the server pushes changes only).
  function tickQueue(q) {
    const live = q.live;
    if (!live) return;
    const longest = live.longest_wait_s == null
      ? null : live.longest_wait_s + (Date.now() - q.receivedAt) / 1000;
    fig(q, "longest").textContent = live.waiting ? fmtWait(longest) : "—";
    q.el.classList.toggle("alarm", live.waiting > 0 && longest != null && longest >= LONG_WAIT_S);
  }

  async function refreshToday() {
    refreshTimer = null;
    for (const name of queues.keys()) {
      try {
        const full = await api("GET", `/api/v1/queues/${encodeURIComponent(name)}`);
        showToday(name, full.today);
      } catch (e) { /* shown again at the next call end */ }
      loadServiceLevel(name);
    }
  }
  function callEnded() {
    if (refreshTimer === null) refreshTimer = setTimeout(refreshToday, REFRESH_AFTER_CALL_MS);
  }

  // --- charts (uPlot, vendored) -----------------------------------------------------------
  function chartOpts(el, label, color, yMax) {
    return {
      width: Math.max(300, el.clientWidth || 400),
      height: 220,
      legend: { show: false },
      scales: {
        // The business day so far (Beijing time), whatever the samples cover.
        x: { time: true, range: () => [dayStart(), Math.max(dayStart() + 3600, Date.now() / 1000)] },
        y: { range: (u, min, max) => [0, Math.max(yMax, max || 0)] },
      },
      axes: [
        {
          stroke: "#c8d0dc", font: AXIS_FONT, size: 44, grid: { stroke: "#2a3345" }, ticks: { stroke: "#2a3345" },
          values: (u, splits) => splits.map(hhmm),
        },
        { stroke: "#c8d0dc", font: AXIS_FONT, size: 60, grid: { stroke: "#2a3345" }, ticks: { stroke: "#2a3345" } },
      ],
      series: [{}, { label, stroke: color, width: 3, fill: `${color}33` }],
    };
  }
  function draw(q, which, data, label, color, yMax) {
    const box = q.el.querySelector(`[data-chart="${which}"]`);
    if (!window.uPlot) return;
    if (q.charts[which]) {
      q.charts[which].setData(data);
      return;
    }
    q.charts[which] = new window.uPlot(chartOpts(box, label, color, yMax), data, box);
  }
  function drawWaiting(q) { draw(q, "waiting", q.series, "排队人数", "#ffc53d", 5); }

  function addSample(frame) {
    const q = queues.get(frame.queue);
    if (!q) return;
    const at = epoch(frame.at);
    const xs = q.series[0];
    if (xs.length && xs[xs.length - 1] === at) q.series[1][xs.length - 1] = frame.waiting;
    else { xs.push(at); q.series[1].push(frame.waiting); }
    drawWaiting(q);
  }

  // Service level per 15 minutes comes from the statistics API; until it answers, say so.
  function slPoints(body) {
    const rows = (body && body.intervals) || [];
    const xs = [];
    const ys = [];
    for (const r of rows) {
      const at = epoch(r.start);
      // The statistics' service level of the calls offered (less short abandons).
      const sl = r.service_level_of_offered;
      if (at == null || typeof sl !== "number") continue;
      xs.push(at);
      ys.push(Math.round(sl * 1000) / 10);
    }
    return [xs, ys];
  }
  async function loadServiceLevel(name) {
    const q = queueBox(name);
    const note = q.el.querySelector('[data-note="sl"]');
    const params = new URLSearchParams({ interval: "15m", from: todayStart(), to: new Date().toISOString() });
    try {
      const body = await api("GET", `/api/v1/queues/${encodeURIComponent(name)}/stats?${params}`);
      note.textContent = "";
      draw(q, "sl", slPoints(body), "服务水平 %", "#3ddc84", 100);
    } catch (e) {
      note.textContent = e.status === 404 ? "历史统计接口暂不可用" : `服务水平读取失败：${e.message}`;
    }
  }

  // --- agents -----------------------------------------------------------------------------
  async function loadAgents() {
    const page = await api("GET", "/api/v1/agents");
    pauseReasons = page.pause_reasons || [];
    for (const a of page.items) {
      agents.set(a.extension, {
        extension: a.extension, name: a.name, state: a.state, since: epoch(a.since),
        paused_reason: a.paused_reason, queues: a.skills.join(", "),
      });
    }
    renderAgents();
  }
  function agentState(frame) {
    const a = agents.get(frame.extension)
      || { extension: frame.extension, name: frame.member_name || "", queues: frame.queue || "" };
    a.state = frame.state;
    a.since = frame.since;
    a.paused_reason = frame.paused_reason;
    agents.set(frame.extension, a);
    renderAgents();
  }
  function agentButtons(a) {
    const cell = el("td", "actions");
    const act = (label, path, body) => {
      const b = el("button", null, label);
      b.type = "button";
      b.dataset.action = path;
      b.addEventListener("click", async () => {
        $("agent-error").textContent = "";
        try {
          await api("POST", `/api/v1/agents/${encodeURIComponent(a.extension)}/${path}`, body && body());
        } catch (e) {
          $("agent-error").textContent = e.status === 403
            ? "此令牌没有 agents:write 权限，不能操作坐席"
            : `坐席 ${a.extension}：${e.message}`;
        }
      });
      cell.appendChild(b);
    };
    if (a.state === "logged_out") {
      act("签入", "login");
      return cell;
    }
    if (a.state === "paused") act("置闲", "unpause");
    else {
      const sel = el("select");
      for (const r of pauseReasons) {
        const o = el("option", null, reasonLabel(r));
        o.value = r;
        sel.appendChild(o);
      }
      cell.appendChild(sel);
      act("小休", "pause", () => ({ reason: sel.value }));
    }
    act("签出", "logout");
    return cell;
  }
  function renderAgents() {
    const body = $("agents").querySelector("tbody");
    body.replaceChildren();
    const counts = {};
    for (const a of [...agents.values()].sort((x, y) => x.extension.localeCompare(y.extension))) {
      counts[a.state] = (counts[a.state] || 0) + 1;
      const tr = el("tr");
      tr.dataset.extension = a.extension;
      tr.dataset.state = a.state;
      tr.appendChild(el("td", null, a.extension));
      tr.appendChild(el("td", null, a.name || "—"));
      const label = STATES[a.state] || a.state;
      const reason = a.state === "paused" && a.paused_reason ? `（${reasonLabel(a.paused_reason)}）` : "";
      tr.appendChild(el("td", `state state-${a.state}`, label + reason));
      const dur = el("td", "since");
      dur.dataset.since = a.since == null ? "" : String(a.since);
      tr.appendChild(dur);
      tr.appendChild(el("td", null, a.queues || "—"));
      tr.appendChild(agentButtons(a));
      body.appendChild(tr);
    }
    $("agent-summary").textContent = Object.entries(counts)
      .map(([s, n]) => `${STATES[s] || s} ${n}`).join(" · ");
    tickAgents();
  }
  function tickAgents() {
    const now = asteriskNow();
    for (const td of $("agents").querySelectorAll("td.since")) {
      const since = Number(td.dataset.since);
      td.textContent = td.dataset.since ? fmtWait(now - since) : "—";
    }
  }

  // --- WebSocket ----------------------------------------------------------------------------
  const socket = window.CTI.liveSocket("/ws/supervisor", {
    hello: () => ({ token: token() }),
    onFrame: handle,
    onClose: () => { document.body.dataset.wsReady = "0"; },
  });
  function handle(frame) {
    switch (frame.type) {
      case "snapshot":
        $("conn").className = "conn on";
        $("conn").textContent = "实时";
        for (const live of frame.queues || []) showLive(live);
        for (const a of frame.agents || []) {
          if (a.extension || /\/(\d+)$/.test(a.interface)) {
            const ext = a.extension || a.interface.split("/").pop();
            agentState({ ...a, extension: ext });
          }
        }
        document.body.dataset.wsReady = "1";
        break;
      case "queue": showLive(frame); break;
      case "queue_sample": addSample(frame); break;
      case "agent_state": agentState(frame); break;
      case "call":
        if (["ended", "answered", "abandoned", "queue_timeout"].includes(frame.event)) callEnded();
        break;
      default: break;
    }
  }

  // --- clock ------------------------------------------------------------------------------
  function tick() {
    $("clock").textContent = new Date().toLocaleTimeString("zh-CN", { hour12: false, timeZone: TZ });
    for (const q of queues.values()) tickQueue(q);
    tickAgents();
  }
  setInterval(tick, 1000);
  tick();
  window.addEventListener("resize", () => {
    for (const q of queues.values()) {
      for (const [which, chart] of Object.entries(q.charts)) {
        const box = q.el.querySelector(`[data-chart="${which}"]`);
        chart.setSize({ width: Math.max(300, box.clientWidth), height: 220 });
      }
    }
  });

  resume();
})();
