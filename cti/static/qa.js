// 录音质检: token login, recording search, playback by signed link, the call's timeline,
// score sheet, final reviews and corrections, the agent's average.
// Every value from the server is put on the page with textContent, never as HTML.
(() => {
  "use strict";
  const { TZ, $, el, text, fmtTime } = window.CTI; // common.js
  const DIRECTIONS = { inbound: "呼入", outbound: "外呼" };
  const STATUS = { available: "可回放", deleted: "已删除", missing: "文件缺失" };

  let sheets = [];
  let current = null; // the recording shown: its detail
  let linkRetried = false;
  let searches = 0; // finished searches, for whoever waits on the page (data-searches)

  // --- helpers ----------------------------------------------------------------------------
  function fmtClock(ms) {
    return new Date(ms).toLocaleTimeString("zh-CN", { hour12: false, timeZone: TZ });
  }
  function fmtDur(s) {
    s = Math.round(s || 0);
    return s < 60 ? `${s} 秒` : `${Math.floor(s / 60)} 分 ${s % 60} 秒`;
  }
  function fmtOffset(s) {
    s = Math.max(0, Math.floor(s || 0));
    return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  }
  // A datetime-local value is Beijing time (no daylight saving): "2026-11-23T09:00".
  function beijing(value) { return value ? `${value}:00+08:00` : ""; }

  // --- login ------------------------------------------------------------------------------
  const { api, resume } = window.CTI.tokenLogin({
    key: "cti_qa_token",
    main: "qa",
    check: async () => (await api("GET", "/api/v1/qa/scoresheets")).sheets,
    enter: async (scoresheets) => {
      sheets = scoresheets;
      $("who").textContent = "已登录";
      fillSheets();
      document.body.dataset.loggedIn = "1";
      await search();
    },
  });

  // --- search -----------------------------------------------------------------------------
  function searchParams() {
    const p = new URLSearchParams();
    const put = (name, value) => { if (value !== "" && value != null) p.set(name, value); };
    put("from", beijing($("f-since").value));
    put("to", beijing($("f-until").value));
    put("agent", $("f-agent").value.trim());
    put("caller", $("f-caller").value.trim());
    put("order_id", $("f-order").value.trim());
    put("queue", $("f-queue").value.trim());
    put("direction", $("f-direction").value);
    put("min_duration_s", $("f-min-duration").value);
    put("reviewed", $("f-reviewed").value);
    p.set("limit", "100");
    return p;
  }

  async function search() {
    $("search-result").textContent = "查询中…";
    let page;
    try {
      page = await api("GET", `/api/v1/recordings?${searchParams()}`);
    } catch (e) {
      $("search-result").textContent = `查询失败：${e.message}`;
      searches += 1;
      document.body.dataset.searches = String(searches);
      return;
    }
    const tbody = $("results").querySelector("tbody");
    tbody.replaceChildren();
    for (const r of page.items) tbody.appendChild(resultRow(r));
    $("search-result").textContent = page.total > page.items.length
      ? `共 ${page.total} 条，显示前 ${page.items.length} 条`
      : `共 ${page.total} 条`;
    searches += 1;
    document.body.dataset.searches = String(searches);
  }

  function resultRow(r) {
    const tr = document.createElement("tr");
    tr.dataset.id = r.id;
    if (current && current.id === r.id) tr.classList.add("selected");
    for (const v of [fmtTime(r.started_at), r.caller_number || "—", r.agent || "—", r.queue || "—",
      DIRECTIONS[r.direction] || r.direction, r.order_id || "—", fmtDur(r.duration_s),
      r.reviewed ? "已质检" : "未质检"]) {
      tr.appendChild(el("td", null, v));
    }
    const td = el("td");
    const open = el("button", "open", "回听评分");
    open.type = "button";
    open.addEventListener("click", () => select(r.id));
    td.appendChild(open);
    tr.appendChild(td);
    return tr;
  }

  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search(); });

  // --- one recording ----------------------------------------------------------------------
  async function select(id) {
    delete document.body.dataset.audioEnded;
    delete document.body.dataset.reviewSaved;
    $("review-result").textContent = "";
    delete $("review-result").dataset.reviewId;
    let detail;
    try {
      detail = await api("GET", `/api/v1/recordings/${encodeURIComponent(id)}`);
    } catch (e) {
      $("search-result").textContent = `无法打开录音：${e.message}`;
      return;
    }
    current = detail;
    for (const tr of $("results").querySelectorAll("tbody tr")) {
      tr.classList.toggle("selected", tr.dataset.id === id);
    }
    showDetail(detail);
    $("detail").hidden = false;
    $("review-box").hidden = false;
    document.body.dataset.selected = id;
    await Promise.all([loadAudio(detail.id, false), loadReviews(), loadAverage()]);
  }

  function showDetail(d) {
    text($("d-title"), `${d.call_id} · 第 ${d.segment} 段`);
    text($("d-started"), fmtTime(d.started_at));
    text($("d-caller"), d.caller_number);
    const start = (d.timeline || []).find((e) => e.type === "call_started");
    text($("d-caller-name"), start && start.data ? start.data.caller_name : null);
    text($("d-agent"), d.agent);
    text($("d-queue"), d.queue);
    text($("d-direction"), DIRECTIONS[d.direction] || d.direction);
    text($("d-order"), d.order_id);
    text($("d-duration"), fmtDur(d.duration_s));
    const channels = d.channels === 2 ? "双声道（左：客户，右：坐席）" : "单声道";
    text($("d-format"), `${(d.format || "").toUpperCase()} · ${channels} · ${STATUS[d.status] || d.status}`);
    const paused = $("paused-spans");
    paused.replaceChildren();
    for (const span of d.paused_spans || []) {
      const end = span.end_s == null ? "进行中" : fmtOffset(span.end_s);
      const item = el("li", null, `${fmtOffset(span.start_s)} – ${end}`);
      item.appendChild(seekButton(span.start_s));
      paused.appendChild(item);
    }
    if (!paused.children.length) paused.appendChild(el("li", "muted", "无"));
    showTimeline(d);
  }

  function seekButton(offset) {
    const b = el("button", "seek", "跳转");
    b.type = "button";
    b.addEventListener("click", () => {
      const player = $("player");
      player.currentTime = Math.max(0, offset);
      player.play().catch(() => {});
    });
    return b;
  }

  // --- the call's timeline ----------------------------------------------------------------
  function who(data) {
    if (!data) return "";
    const agent = data.member_name || data.agent || data.interface || "";
    const parts = [];
    if (data.caller_name) parts.push(`主叫 ${data.caller_name}`);
    if (agent) parts.push(`坐席 ${agent}`);
    if (data.queue) parts.push(`队列 ${data.queue}`);
    if (data.target || data.extension) parts.push(`转至 ${data.target || data.extension}`);
    return parts.join(" ");
  }

  // Queued, ringing, talking, transfers and recording pauses as spans of the call.
  function spansOf(events) {
    const out = [];
    const open = new Map();
    const start = (key, kind, label, at, data) => {
      close(key, at);
      open.set(key, { kind, label, start: at, end: null, data });
    };
    function close(key, at) {
      const span = open.get(key);
      if (!span) return;
      span.end = at;
      out.push(span);
      open.delete(key);
    }
    const closeAll = (prefix, at) => {
      for (const key of [...open.keys()]) if (key.startsWith(prefix)) close(key, at);
    };
    let last = null;
    for (const e of events) {
      const at = Date.parse(e.at);
      if (Number.isNaN(at)) continue;
      last = at;
      const data = e.data || {};
      const ringKey = `ring:${data.agent || data.interface || data.member_name || ""}`;
      switch (e.type) {
        case "queued": start("queue", "queue", "排队", at, data); break;
        case "agent_ringing": start(ringKey, "ring", "振铃", at, data); break;
        case "agent_ring_no_answer": close(ringKey, at); break;
        case "answered":
          close("queue", at); closeAll("ring:", at);
          start("talk", "talk", "接听", at, data);
          break;
        case "abandoned": case "queue_timeout": close("queue", at); closeAll("ring:", at); break;
        case "transferred": out.push({ kind: "transfer", label: "转接", start: at, end: at, data }); break;
        case "recording_paused": start("pause", "pause", "录音暂停", at, data); break;
        case "recording_resumed": close("pause", at); break;
        case "ended": closeAll("", at); break;
        default: break;
      }
    }
    for (const key of [...open.keys()]) close(key, last);
    return out.sort((a, b) => a.start - b.start);
  }

  function showTimeline(d) {
    const events = (d.timeline || []).slice().sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    const list = $("timeline");
    const bar = $("timeline-bar");
    list.replaceChildren();
    bar.replaceChildren();
    const spans = spansOf(events);
    const recStart = Date.parse(d.started_at);
    const recEnd = recStart + (d.duration_s || 0) * 1000;
    const times = events.map((e) => Date.parse(e.at)).filter((t) => !Number.isNaN(t));
    const first = Math.min(...times, recStart);
    const lastAt = Math.max(...times, recEnd);
    const extent = Math.max(lastAt - first, 1);
    const started = events.find((e) => e.type === "call_started");
    const ended = events.find((e) => e.type === "ended");
    const rows = [];
    if (started) rows.push({ kind: "event", label: "来电", start: Date.parse(started.at), end: null, data: started.data });
    rows.push(...spans);
    if (ended) rows.push({ kind: "event", label: "挂机", start: Date.parse(ended.at), end: null, data: null });
    for (const s of rows) {
      const item = el("li");
      item.dataset.kind = s.kind;
      item.appendChild(el("span", `tag kind-${s.kind}`, s.label));
      const range = s.end != null && s.end !== s.start
        ? `${fmtClock(s.start)} – ${fmtClock(s.end)}（${fmtDur((s.end - s.start) / 1000)}）`
        : fmtClock(s.start);
      item.appendChild(document.createTextNode(range));
      const detail = who(s.data);
      if (detail) item.appendChild(el("span", "muted", ` ${detail}`));
      if (s.start >= recStart - 500 && s.start < recEnd) {
        item.appendChild(seekButton((s.start - recStart) / 1000));
      }
      list.appendChild(item);
      if (s.kind !== "event") {
        const block = el("span", `kind-${s.kind}`);
        block.title = s.label;
        // Set through the CSSOM: the page's CSP allows no inline style attributes.
        block.style.left = `${((s.start - first) / extent) * 100}%`;
        block.style.width = `${(((s.end ?? s.start) - s.start) / extent) * 100}%`;
        bar.appendChild(block);
      }
    }
    if (!rows.length) list.appendChild(el("li", "muted", "无时间线"));
  }

  // --- playback ---------------------------------------------------------------------------
  async function loadAudio(id, retry) {
    const player = $("player");
    linkRetried = retry;
    $("play-status").textContent = "正在获取播放链接…";
    try {
      // A short-lived signed link: the audio element cannot send the bearer token, and
      // the token must never be in a URL.
      const link = await api("POST", `/api/v1/recordings/${encodeURIComponent(id)}/link`);
      if (!current || current.id !== id) return;
      const at = player.currentTime;
      player.src = link.url;
      if (retry && at) player.currentTime = at;
      $("play-status").textContent = "可以播放";
      document.body.dataset.audio = "ready";
    } catch (e) {
      $("play-status").textContent = `无法播放：${e.message}`;
    }
  }

  const player = $("player");
  player.addEventListener("playing", () => { $("play-status").textContent = "播放中"; });
  player.addEventListener("pause", () => {
    if (!player.ended) $("play-status").textContent = "已暂停";
  });
  player.addEventListener("ended", () => {
    $("play-status").textContent = "播放结束";
    document.body.dataset.audioEnded = "1";
  });
  player.addEventListener("error", () => {
    // Most likely the link expired while the page stood open: one new link.
    if (current && !linkRetried) loadAudio(current.id, true);
    else $("play-status").textContent = "播放出错";
  });

  // --- score sheet ------------------------------------------------------------------------
  function fillSheets() {
    const select = $("sheet");
    select.replaceChildren();
    for (const s of sheets) select.appendChild(new Option(s.name, s.id));
    showCriteria();
  }

  function sheetShown() { return sheets.find((s) => s.id === $("sheet").value) || sheets[0]; }

  function showCriteria() {
    const tbody = $("criteria").querySelector("tbody");
    tbody.replaceChildren();
    const sheet = sheetShown();
    if (!sheet) return;
    for (const c of sheet.criteria) {
      const tr = document.createElement("tr");
      const label = el("td");
      const lab = el("label", null, c.label);
      lab.htmlFor = `score-${c.key}`;
      label.appendChild(lab);
      tr.appendChild(label);
      tr.appendChild(el("td", null, `${Math.round(c.weight * 1000) / 10}%`));
      const cell = el("td");
      const input = document.createElement("input");
      input.type = "number";
      input.id = `score-${c.key}`;
      input.dataset.key = c.key;
      input.min = "0";
      input.max = String(c.max);
      input.step = "1";
      input.required = true;
      input.addEventListener("input", preview);
      cell.appendChild(input);
      cell.appendChild(document.createTextNode(` / ${c.max}`));
      tr.appendChild(cell);
      tbody.appendChild(tr);
    }
    preview();
  }

  function scores() {
    const sheet = sheetShown();
    const out = {};
    for (const c of sheet.criteria) {
      const raw = $(`score-${c.key}`).value;
      const n = Number(raw);
      if (raw === "" || !Number.isInteger(n) || n < 0 || n > c.max) return { bad: c };
      out[c.key] = n;
    }
    return { scores: out };
  }

  function preview() {
    const sheet = sheetShown();
    const got = sheet ? scores() : { bad: true };
    if (got.bad) { $("total-preview").textContent = "—"; return; }
    const total = sheet.criteria.reduce((sum, c) => sum + c.weight * got.scores[c.key] / c.max, 0);
    $("total-preview").textContent = `${(Math.round(total * 1000) / 10).toFixed(1)} 分`;
  }

  $("sheet").addEventListener("change", showCriteria);

  $("review-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!current) return;
    const got = scores();
    if (got.bad) {
      $("review-result").textContent = `请为「${got.bad.label}」打 0 到 ${got.bad.max} 分`;
      return;
    }
    const body = { sheet: sheetShown().id, scores: got.scores, comment: $("comment").value };
    if ($("corrects").value) body.corrects = $("corrects").value;
    $("review-submit").disabled = true;
    try {
      const saved = await api("POST", `/api/v1/recordings/${encodeURIComponent(current.id)}/reviews`, body);
      $("review-result").textContent = `已提交，总分 ${saved.total.toFixed(1)}`;
      $("review-result").dataset.reviewId = saved.id;
      $("comment").value = "";
      for (const input of $("criteria").querySelectorAll("input")) input.value = "";
      preview();
      const row = $("results").querySelector(`tbody tr[data-id="${CSS.escape(current.id)}"]`);
      if (row) row.children[7].textContent = "已质检";
      await Promise.all([loadReviews(), loadAverage()]);
      document.body.dataset.reviewSaved = saved.id;
    } catch (e) {
      $("review-result").textContent = `提交失败：${e.message}`;
    } finally {
      $("review-submit").disabled = false;
    }
  });

  // --- reviews and averages ---------------------------------------------------------------
  async function loadReviews() {
    const list = $("reviews");
    const corrects = $("corrects");
    const id = current.id;
    let items = [];
    try {
      items = (await api("GET", `/api/v1/recordings/${encodeURIComponent(id)}/reviews`)).items;
    } catch (e) {
      list.replaceChildren(el("li", "error", `无法读取评分记录：${e.message}`));
      return;
    }
    if (!current || current.id !== id) return;
    list.replaceChildren();
    corrects.replaceChildren(new Option("（新评分，不更正）", ""));
    for (const r of items) {
      const item = el("li", r.current ? "current" : "corrected");
      item.dataset.reviewId = r.id;
      item.appendChild(el("strong", "total", `${r.total.toFixed(1)} 分`));
      item.appendChild(document.createTextNode(` · ${r.reviewer} · ${fmtTime(r.created_at)}`));
      if (r.corrects) item.appendChild(el("span", "muted", "（更正此前的评分）"));
      if (!r.current) item.appendChild(el("span", "muted", "（已被更正，不计入平均分）"));
      const parts = r.criteria.map((c) => `${c.label} ${c.score}/${c.max}`).join("，");
      item.appendChild(el("span", "comment muted", parts));
      if (r.comment) item.appendChild(el("span", "comment", r.comment));
      list.appendChild(item);
      if (r.current) {
        corrects.appendChild(new Option(`更正：${fmtTime(r.created_at)} ${r.total.toFixed(1)} 分（${r.reviewer}）`, r.id));
      }
    }
    if (!items.length) list.appendChild(el("li", "muted", "暂无评分"));
  }

  async function loadAverage() {
    const out = $("agent-average");
    const agent = current.agent;
    if (!agent) { out.textContent = "该录音没有坐席"; return; }
    const p = new URLSearchParams({ by: "agent" });
    const since = beijing($("f-since").value);
    const until = beijing($("f-until").value);
    if (since) p.set("from", since);
    if (until) p.set("to", until);
    const period = since || until ? "查询时段内" : "全部";
    try {
      const data = await api("GET", `/api/v1/qa/averages?${p}`);
      const row = data.items.find((i) => i.key === agent);
      out.textContent = row
        ? `坐席 ${agent}（${period}）平均 ${row.average.toFixed(1)} 分，共 ${row.count} 条评分`
        : `坐席 ${agent}（${period}）暂无评分`;
      out.dataset.agent = agent;
      out.dataset.count = row ? String(row.count) : "0";
    } catch (e) {
      out.textContent = `无法读取平均分：${e.message}`;
    }
  }

  // --- start ------------------------------------------------------------------------------
  resume();
})();
