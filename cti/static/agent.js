// 坐席工作台: token login, WebSocket screen-pop with resume, notes, tickets, pause, stats.
(() => {
  "use strict";
  const { $, text, fmtTime } = window.CTI; // common.js
  const TIERS = { new: "新客", returning: "老客", vip: "VIP" };
  const ORDER_STATUS = {
    created: "待付款", pending: "待付款", paid: "已付款", shipped: "已发货",
    delivered: "已签收", completed: "已完成", cancelled: "已取消",
    refunding: "退款中", refunded: "已退款", returned: "已退货",
  };
  const OUTCOMES = { answered: "已接听", abandoned: "放弃", timeout: "排队超时", not_queued: "未排队" };
  const TICKET_TYPES = {
    question: "咨询", complaint: "投诉", return_exchange: "退换货",
    callback: "回电", order_change: "订单修改",
  };
  const TICKET_STATUS = { open: "待处理", in_progress: "处理中", waiting_customer: "等待客户", closed: "已关闭" };
  const AGENT_STATES = {
    logged_out: "未签入", available: "空闲", ringing: "振铃", on_call: "通话中",
    wrap_up: "话后处理", paused: "示忙",
  };
  const DISPOSITIONS = {
    resolved: "已解决", ticket_created: "已建工单", callback_needed: "需回电",
    transferred: "已转接", wrong_number: "打错电话", other: "其他",
  };

  let extension = "";
  let current = null; // {call_id, customer, orders, caller}

  function fmtDur(s) {
    s = Math.round(s || 0);
    return `${Math.floor(s / 60)} 分 ${s % 60} 秒`;
  }
  function li(list, content) {
    const item = document.createElement("li");
    item.textContent = content;
    list.appendChild(item);
  }

  // --- login ------------------------------------------------------------------------------
  const { api, token, resume } = window.CTI.tokenLogin({
    key: "cti_token",
    main: "desk",
    check: async () => {
      const stats = await api("GET", "/api/v1/desk/stats");
      extension = stats.extension;
      return stats;
    },
    enter: (stats) => {
      text($("who"), `坐席 ${extension}`);
      showStats(stats);
      loadCallbacks();
      socket.connect();
    },
    forget: ["cti_last_id"],
    leave: () => socket.close(),
  });

  // --- WebSocket with resume ------------------------------------------------------------
  const socket = window.CTI.liveSocket("/ws/agent", {
    hello: () => {
      const hello = { token: token() };
      const last = Number(sessionStorage.getItem("cti_last_id"));
      if (Number.isSafeInteger(last) && last > 0) hello.last_event_id = last;
      return hello;
    },
    onFrame: (frame) => {
      if (typeof frame.id === "number") sessionStorage.setItem("cti_last_id", String(frame.id));
      handle(frame);
    },
  });

  function handle(frame) {
    switch (frame.type) {
      case "hello":
        $("conn").className = "conn on";
        $("conn").textContent = "已连接";
        document.body.dataset.wsReady = "1";
        break;
      case "ringing": showPop(frame); break;
      case "answered":
        setCallState(frame.call_id, "answered", "通话中");
        if (current && current.call_id === frame.call_id) showRecording(false, true);
        break;
      case "ended": callEnded(frame); break;
      case "agent_state": showAgentState(frame); break;
      default: break;
    }
  }

  function setCallState(callId, cls, label) {
    if (!current || current.call_id !== callId) return;
    $("pop").className = `card ${cls}`;
    $("call-state").textContent = label;
    document.body.dataset.callState = cls;
  }

  function callEnded(frame) {
    if (!current || current.call_id !== frame.call_id) return;
    const reason = { not_answered: "未接听", answered_elsewhere: "已由其他坐席接听" }[frame.reason];
    setCallState(frame.call_id, "ended", reason ? `已结束（${reason}）` : "通话已结束");
    showRecording(false, false);
    if (frame.reason === "hangup") {
      loadStats();
      // A callback's result reaches its task a moment after the hang-up.
      for (const ms of [0, 2000, 8000]) setTimeout(loadCallbacks, ms);
    }
  }

  // PCI: the agent mutes the recording while the caller reads out card numbers.
  function showRecording(paused, live) {
    $("recording-state").textContent = !live ? "—" : paused ? "已暂停（静音）" : "录音中";
    $("recording-state").className = paused ? "paused" : "muted";
    $("recording-pause").disabled = !live || paused;
    $("recording-resume").disabled = !live || !paused;
    document.body.dataset.recording = !live ? "" : paused ? "paused" : "on";
  }
  async function recording(pauseIt) {
    if (!current) return;
    const action = pauseIt ? "recording:pause" : "recording:resume";
    try {
      const r = await api("POST", `/api/v1/calls/${encodeURIComponent(current.call_id)}/${action}`);
      showRecording(r.paused, true);
      $("recording-result").textContent = "";
    } catch (e) { $("recording-result").textContent = `失败：${e.message}`; }
  }
  $("recording-pause").addEventListener("click", () => recording(true));
  $("recording-resume").addEventListener("click", () => recording(false));

  function showPop(frame) {
    current = frame;
    showRecording(false, false);
    setCallStateRaw("ringing", frame.origin === "callback" ? "客户振铃中" : "来电振铃中");
    const c = frame.customer;
    text($("customer-name"), c ? c.name || "（未留姓名）" : "新客户");
    const tier = c ? c.tier : "new";
    $("tier-badge").textContent = TIERS[tier] || tier;
    $("tier-badge").className = `badge ${tier}`;
    text($("caller-number"), frame.caller && frame.caller.number);
    text($("caller-name"), frame.caller && frame.caller.name);
    text($("call-id"), frame.call_id);
    $("lookup-note").textContent = frame.lookup_error ? "客户资料查询失败，请手动查询" : "";
    const origins = {
      confirmation: `订单确认外呼转人工：客户对订单 ${frame.order_id || "—"} 有疑问`,
      callback: "回拨客户：客户话机振铃中",
    };
    $("origin-note").textContent = origins[frame.origin] || "";
    document.body.dataset.origin = frame.origin || "";

    const tbody = $("orders").querySelector("tbody");
    tbody.replaceChildren();
    const orderSelect = $("ticket-order");
    orderSelect.replaceChildren(new Option("（无）", ""));
    for (const o of frame.orders || []) {
      const tr = document.createElement("tr");
      const items = (o.items || []).map((i) => `${i.name} ×${i.qty}`).join("，");
      for (const v of [o.order_id, items, `${o.amount} ${o.currency === "CNY" ? "元" : o.currency}`,
        ORDER_STATUS[o.status] || o.status, fmtTime(o.created_at)]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      tr.dataset.orderId = o.order_id;
      if (frame.origin === "confirmation" && o.order_id === frame.order_id) tr.className = "focus";
      tbody.appendChild(tr);
      const opt = new Option(`${o.order_id}（${items}）`, o.order_id);
      opt.dataset.shop = o.shop;
      orderSelect.appendChild(opt);
    }
    if (!(frame.orders || []).length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 5;
      td.textContent = "暂无订单";
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
    const calls = $("last-calls");
    calls.replaceChildren();
    for (const call of frame.last_calls || []) {
      const notes = (call.notes || []).map((n) => `${DISPOSITIONS[n.disposition] || n.disposition}${n.note ? "：" + n.note : ""}`).join("；");
      li(calls, `${fmtTime(call.started_at)} ${OUTCOMES[call.outcome] || call.outcome} 坐席 ${call.agent || "—"}${notes ? "（" + notes + "）" : ""}`);
    }
    if (!calls.children.length) li(calls, "无");
    const tickets = $("open-tickets");
    tickets.replaceChildren();
    for (const t of frame.open_tickets || []) {
      li(tickets, `#${t.id} ${TICKET_TYPES[t.type] || t.type} · ${TICKET_STATUS[t.status] || t.status} · ${t.title}`);
    }
    if (!tickets.children.length) li(tickets, "无");
    const history = $("history");
    history.replaceChildren();
    for (const h of frame.history || []) {
      const what = { created: "新建", comment: "备注", status: "状态", assigned: "指派", updated: "更新" }[h.kind] || h.kind;
      li(history, `${fmtTime(h.at)} 工单 #${h.ticket_id} ${what}：${h.body}（${h.actor}）`);
    }
    if (!history.children.length) li(history, "无");
    $("note-result").textContent = "";
    $("ticket-result").textContent = "";
  }

  function setCallStateRaw(cls, label) {
    $("pop").className = `card ${cls}`;
    $("call-state").textContent = label;
    document.body.dataset.callState = cls;
  }

  function showAgentState(frame) {
    let label = AGENT_STATES[frame.state] || frame.state;
    if (frame.state === "paused" && frame.paused_reason) {
      // The reason comes from Asterisk: compared as a value, never put into a selector.
      const known = Array.from($("pause-reason").options).find((o) => o.value === frame.paused_reason);
      label += `（${known ? known.textContent : frame.paused_reason}）`;
    }
    $("agent-state").textContent = label;
    $("agent-state").dataset.state = String(frame.state || "");
  }

  // --- notes, tickets, pause, stats ------------------------------------------------------
  $("note-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!current) { $("note-result").textContent = "当前没有通话"; return; }
    try {
      await api("PUT", `/api/v1/calls/${encodeURIComponent(current.call_id)}/note`, {
        disposition: $("disposition").value, note: $("note").value,
      });
      $("note-result").textContent = "已保存";
    } catch (e) { $("note-result").textContent = `保存失败：${e.message}`; }
  });

  $("ticket-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { type: $("ticket-type").value, title: $("ticket-title").value, description: $("ticket-desc").value };
    if (current) {
      body.linkedid = current.call_id;
      if (current.customer) body.customer_id = current.customer.id;
      else if (current.caller && current.caller.number) body.caller_number = current.caller.number;
    }
    const opt = $("ticket-order").selectedOptions[0];
    if (opt && opt.value) { body.order_id = opt.value; body.shop = opt.dataset.shop; }
    if ($("ticket-due").value) body.due_at = new Date($("ticket-due").value).toISOString();
    try {
      const t = await api("POST", "/api/v1/tickets", body);
      $("ticket-result").textContent = `已创建工单 #${t.id}`;
      $("ticket-result").dataset.ticketId = String(t.id);
      $("ticket-title").value = "";
      $("ticket-desc").value = "";
    } catch (e) { $("ticket-result").textContent = `创建失败：${e.message}`; }
  });

  async function pause(on) {
    try {
      const path = `/api/v1/agents/${extension}/${on ? "pause" : "unpause"}`;
      const a = await api("POST", path, on ? { reason: $("pause-reason").value } : undefined);
      $("pause-result").textContent = on ? "已示忙" : "已示闲";
      showAgentState({ state: a.state, paused_reason: a.paused_reason });
    } catch (e) { $("pause-result").textContent = `失败：${e.message}`; }
  }
  $("pause").addEventListener("click", () => pause(true));
  $("unpause").addEventListener("click", () => pause(false));

  function showStats(s) {
    $("stat-answered").textContent = String(s.answered);
    $("stat-talk").textContent = fmtDur(s.talk_s);
    $("stat-avg").textContent = s.avg_talk_s == null ? "—" : fmtDur(s.avg_talk_s);
    // Callers' ratings after the call, 5 best; the title shows how many of each.
    const csat = s.csat || { count: 0, average: null, distribution: {} };
    $("stat-csat").textContent = csat.average == null ? "—" : `${csat.average.toFixed(2)} 分`;
    $("stat-csat").title = [5, 4, 3, 2, 1]
      .map((r) => `${r} 分：${(csat.distribution || {})[String(r)] || 0} 次`).join("，");
    $("stat-csat-count").textContent = String(csat.count);
  }
  async function loadStats() {
    try { showStats(await api("GET", "/api/v1/desk/stats")); } catch (e) { /* shown on next refresh */ }
  }
  $("stats-refresh").addEventListener("click", loadStats);

  // Callback tasks (后台回电): the agent's phone rings first, then the customer's.
  async function callBack(ticket) {
    $("callback-result").textContent = "";
    try {
      const c = await api("POST", "/api/v1/calls", { ticket_id: ticket.id });
      $("callback-result").textContent = `正在呼叫您的话机，接听后将拨打客户 ${c.phone}`;
      $("callback-result").dataset.callId = c.call_id;
    } catch (e) { $("callback-result").textContent = `回拨失败：${e.message}`; }
  }
  async function loadCallbacks() {
    let page;
    try { page = await api("GET", "/api/v1/tickets/callbacks"); } catch (e) { return; }
    const list = $("callbacks");
    list.replaceChildren();
    for (const t of page.items) {
      const due = t.due_at ? ` · 截止 ${fmtTime(t.due_at)}` : "";
      li(list, `#${t.id} ${t.title}${due} `);
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "回拨";
      button.dataset.ticketId = String(t.id);
      button.addEventListener("click", () => callBack(t));
      list.lastChild.appendChild(button);
    }
    if (!list.children.length) li(list, "无");
  }
  $("callbacks-refresh").addEventListener("click", loadCallbacks);

  resume();
})();
