// The dashboard: the public leaderboard (no token) and, with an analyst token, the economy as
// charts drawn by uPlot (vendored, see vendor/README.md). Everything comes from the documented
// endpoints of this API (/openapi.json).
"use strict";

const $ = (id) => document.getElementById(id);
const SKILLS = ["attack", "strength", "defence", "hitpoints", "prayer", "woodcutting", "mining", "fishing", "smithing", "crafting", "cooking", "ranged", "magic"];
const HOUR = 3600;
const num = (v) => Number(v).toLocaleString("en");
let range = 0; // seconds back from now; 0 = all
const charts = [];

async function get(path, token) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const res = await fetch(path, { headers });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    const e = new Error(`${res.status} ${(body.error || {}).code || res.statusText}`);
    e.status = res.status;
    throw e;
  }
  return res.json();
}

// ---- public: the leaderboard

async function loadBoard() {
  const board = $("board").value;
  const limit = $("limit").value;
  $("board-status").textContent = "loading…";
  try {
    const page = await get(`/v1/leaderboards/${board}?limit=${limit}`);
    const tbody = $("leaderboard").querySelector("tbody");
    tbody.replaceChildren(
      ...page.entries.map((e) => {
        const tr = document.createElement("tr");
        const cells = [num(e.rank), e.name ?? "(no account) " + e.player_id.slice(0, 8), num(e.level), num(e.xp)];
        cells.forEach((v, i) => {
          const td = document.createElement("td");
          td.textContent = v;
          if (i !== 1) td.className = "num";
          else td.title = e.player_id;
          tr.append(td);
        });
        return tr;
      }),
    );
    if (!page.entries.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 4;
      td.textContent = "No one on this board yet.";
      tr.append(td);
      tbody.append(tr);
    }
    $("board-status").textContent = `as of log position ${num(page.as_of_position)}`;
    $("public").dataset.ready = "1";
  } catch (e) {
    $("board-status").textContent = e.message;
    $("board-status").className = "status error";
    $("public").dataset.ready = "error";
  }
}

// ---- charts

const utc = (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
const when = (t) => new Date(t * 1e3).toISOString().slice(0, 16).replace("T", " ") + " UTC";

/** A tooltip following the cursor: the hour and each series' value with its unit. */
function tooltip(unit) {
  const tip = $("tooltip");
  return {
    hooks: {
      setCursor: (u) => {
        const i = u.cursor.idx;
        if (i == null) {
          tip.hidden = true;
          return;
        }
        const lines = [when(u.data[0][i])];
        for (let s = 1; s < u.series.length; s++) {
          const v = u.data[s][i];
          if (v != null) lines.push(`${u.series[s].label}: ${num(v)} ${unit}`);
        }
        tip.textContent = lines.join("\n");
        const r = u.over.getBoundingClientRect();
        tip.style.left = r.left + window.scrollX + u.cursor.left + 14 + "px";
        tip.style.top = r.top + window.scrollY + u.cursor.top + 14 + "px";
        tip.hidden = false;
      },
    },
  };
}

/** A chart in `el` of hourly points `xs` and `series` ([{label, colour, values}]). */
function chart(el, title, unit, xs, series) {
  el.replaceChildren();
  el.dataset.points = String(xs.length);
  if (!xs.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = `${title}: no data in this time range.`;
    el.append(p);
    return;
  }
  const opts = {
    title,
    width: Math.min(900, document.body.clientWidth - 40),
    height: 260,
    tzDate: utc,
    scales: {
      x: { time: true },
      y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] },
    },
    axes: [
      { label: "hour (UTC)", labelSize: 20 },
      { label: unit, labelSize: 20, size: 70, values: (u, ticks) => ticks.map((v) => num(v)) },
    ],
    series: [
      { label: "hour", value: (u, v) => (v == null ? "—" : when(v)) },
      ...series.map((s) => ({
        label: s.label,
        stroke: s.colour,
        fill: s.colour + "22",
        width: 2,
        // Dots while they fit (one point alone is only a dot); a line beyond.
        points: { show: xs.length <= 72, size: 7, fill: s.colour },
        value: (u, v) => (v == null ? "—" : `${num(v)} ${unit}`),
      })),
    ],
    plugins: [tooltip(unit)],
  };
  let data = [xs, ...series.map((s) => s.values)];
  if (xs.length === 1) {
    // One point (an hour of history): an empty hour on each side gives the axis a span, and the
    // point is drawn as a dot.
    data = [[xs[0] - HOUR, xs[0], xs[0] + HOUR], ...series.map((s) => [null, s.values[0], null])];
  }
  charts.push(new uPlot(opts, data, el));
}

// ---- analyst: the economy

function rangeQuery() {
  if (!range) return "";
  const now = Math.floor(Date.now() / 1000);
  return `from=${now - range}&to=${now + HOUR}`;
}

async function loadEconomy() {
  const token = $("token").value.trim();
  if (!token) {
    $("status").textContent = "Type an analyst token to see the economy.";
    $("analyst").dataset.ready = "no-token";
    return;
  }
  sessionStorage.setItem("loh_token", token);
  $("status").textContent = "loading…";
  $("status").className = "status";
  try {
    const q = rangeQuery();
    const [supply, coinFlows, flows, xp] = await Promise.all([
      get("/v1/economy/supply?item=coins", token),
      get("/v1/economy/flows?item=coins", token),
      get("/v1/economy/flows" + (q ? "?" + q : ""), token),
      get("/v1/economy/xp" + (q ? "?" + q : ""), token),
    ]);
    for (const c of charts.splice(0)) c.destroy();
    $("coins").textContent = num(supply.rows.length ? supply.rows[0][3] : 0) + " coins";
    const from = q ? Math.floor(Date.now() / 1000) - range : -Infinity;
    // Coins in circulation at the end of each hour: the running sum of all hours, shown in range.
    const net = new Map();
    for (const [hour, , flow, , qty] of coinFlows.rows) net.set(hour, (net.get(hour) ?? 0) + (flow === "minted" ? qty : -qty));
    let running = 0;
    const coinHours = [];
    const coinValues = [];
    for (const h of [...net.keys()].sort((a, b) => a - b)) {
      running += net.get(h);
      if (h >= from) {
        coinHours.push(h);
        coinValues.push(running);
      }
    }
    chart($("coins-chart"), "Coins in circulation", "coins", coinHours, [{ label: "in circulation", colour: "#3366cc", values: coinValues }]);
    const byHour = new Map();
    for (const [hour, , flow, , qty] of flows.rows) {
      const h = byHour.get(hour) ?? { minted: 0, burned: 0 };
      h[flow] += qty;
      byHour.set(hour, h);
    }
    const hours = [...byHour.keys()].sort((a, b) => a - b);
    chart($("flows-chart"), "Items minted and burned per hour", "items", hours, [
      { label: "minted", colour: "#22aa77", values: hours.map((h) => byHour.get(h).minted) },
      { label: "burned", colour: "#cc3333", values: hours.map((h) => byHour.get(h).burned) },
    ]);
    const xpByHour = new Map();
    for (const [hour, , amount] of xp.rows) xpByHour.set(hour, (xpByHour.get(hour) ?? 0) + amount);
    const xpHours = [...xpByHour.keys()].sort((a, b) => a - b);
    chart($("xp-chart"), "Experience gained per hour (all skills)", "XP", xpHours, [{ label: "XP", colour: "#aa7711", values: xpHours.map((h) => xpByHour.get(h)) }]);
    const all = [...coinHours, ...hours, ...xpHours];
    $("range-text").textContent = all.length ? `${when(Math.min(...all))} – ${when(Math.max(...all) + HOUR)}` : "";
    $("economy").hidden = false;
    $("status").textContent = "";
    $("analyst").dataset.ready = "1";
  } catch (e) {
    $("economy").hidden = true;
    const why = e.status === 403 ? " (this token is not an analyst's)" : e.status === 401 ? " (the token is invalid or expired)" : "";
    $("status").textContent = e.message + why;
    $("status").className = "status error";
    $("analyst").dataset.ready = "error";
  }
}

async function main() {
  for (const b of ["overall", ...SKILLS]) $("board").add(new Option(b[0].toUpperCase() + b.slice(1), b));
  $("board").onchange = loadBoard;
  $("limit").onchange = loadBoard;
  $("load").onclick = loadEconomy;
  $("token").addEventListener("keydown", (e) => e.key === "Enter" && loadEconomy());
  for (const b of document.querySelectorAll("#ranges button")) {
    b.onclick = () => {
      range = Number(b.dataset.range);
      for (const o of document.querySelectorAll("#ranges button")) o.classList.toggle("on", o === b);
      loadEconomy();
    };
  }
  const params = new URLSearchParams(location.hash.slice(1));
  $("token").value = params.get("token") || sessionStorage.getItem("loh_token") || "";
  if (params.get("range")) {
    const b = document.querySelector(`#ranges button[data-range="${params.get("range")}"]`);
    if (b) {
      range = Number(b.dataset.range);
      for (const o of document.querySelectorAll("#ranges button")) o.classList.toggle("on", o === b);
    }
  }
  await Promise.all([loadBoard(), loadEconomy()]);
  document.body.dataset.ready = "1";
}

main();
