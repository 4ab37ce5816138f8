// The /play page: draws what loh-client.js holds and turns clicks into commands.
// Everything it knows comes from the public protocol: /v1/auth/*, /v1/ws and /v1/content.

import { Account, Client, fetchContent, uuidBytes } from "./loh-client.js";

const $ = (id) => document.getElementById(id);
const TILE = 20;
const R = 15; // the view distance: 31 × 31 tiles
const SIDE = 2 * R + 1;
const STORE = "loh.play.session";

// A clear sentence for every rejection code (docs/protocol.md, "Rejection codes").
const REJECTIONS = {
  too_far: "That is too far away.",
  out_of_bounds: "You can't go outside the map.",
  no_move: "You are already there.",
  blocked: "Something is in the way.",
  members_only: "Only members can do that.",
  bad_text: "That message is empty, too long or holds control characters.",
  bad_quantity: "That quantity is not allowed.",
  not_spawned: "You are not in the world yet.",
  not_in_range: "You need to be closer.",
  inventory_full: "Your inventory is too full.",
  empty_slot: "There is nothing in that slot.",
  bad_slot: "That slot does not exist.",
  no_such_item: "That item is not there any more.",
  not_food: "You can't eat that.",
  bank_full: "Your bank is full.",
  stack_full: "That stack can't hold any more.",
  not_in_bank: "Your bank holds none of that.",
  empty_inventory: "You have nothing to deposit.",
  not_equipable: "You can't wear that.",
  level_too_low: "Your level is too low.",
  in_trade: "Not while trading.",
  no_such_node: "There is nothing to gather there.",
  node_depleted: "That is depleted; wait for it to grow back.",
  no_tool: "You need the right tool for that.",
  no_such_recipe: "You don't know how to make that.",
  missing_items: "You don't have the materials.",
  no_such_shop: "There is no such shop.",
  not_in_stock: "The shop does not have that many of that.",
  not_enough_coins: "You don't have enough coins.",
  not_sellable: "The shop won't buy that.",
  no_such_npc: "That creature is not there any more.",
  no_such_player: "That player is not here.",
  bad_target: "You can't target that.",
  not_in_pvp: "You can only fight players in a PvP zone.",
  bad_style: "Unknown attack style.",
  no_such_spell: "Unknown spell.",
  level_gap: "Your combat levels are too far apart for this level of the wilderness.",
  no_such_prayer: "Unknown prayer.",
  already_active: "That prayer is already on.",
  not_active: "That prayer is not on.",
  no_prayer_points: "You have no prayer points left; pray at an altar.",
  already_full: "Your prayer points are already full.",
  offline: "That player is offline or not accepting messages.",
  no_trade: "You are not trading.",
  wrong_stage: "The trade is not at that screen.",
  already_accepted: "You already accepted.",
  not_enough_items: "You don't have that many.",
  already_listed: "Already on your list.",
  not_friend: "Not on your friends list.",
  not_ignored: "Not on your ignore list.",
  list_full: "Your list is full.",
  duplicate_seq: "That action was already handled.",
  server_busy: "The world is busy; try again.",
  rate_limited: "Slow down: too many actions at once.",
  bad_seq: "The client sent a bad sequence number (reload the page).",
  bad_command: "The client sent a malformed action.",
};

const ERRORS = {
  hello_required: "The connection was not set up correctly.",
  already_hello: "The connection was set up twice.",
  unsupported_protocol: "This page is too old for the server: reload it.",
  unauthorized: "Your login has expired.",
  bad_frame: "The server could not read a message from this page.",
  frame_too_large: "A message from this page was too large.",
  session_closed: "This account was opened elsewhere, or logged out.",
  unavailable: "The server is unavailable; retrying.",
};

let content = null;
let account = null;
let client = null;
let myName = "";
let panel = null; // {kind: "bank"|"shop"|"station", shop, station, x, y}
let pending = null; // an action waiting for the player to arrive: {x, y, reach, run, until}
let view = { camX: 0, camY: 0 };
const names = new Map(); // player id → name, as far as this page knows
const frames = []; // draw times (ms), the last 600
const intervals = []; // time between animation frames (ms), the last 600
let lastFrameAt = 0;
let terrainKey = "";
const terrain = document.createElement("canvas");
terrain.width = terrain.height = SIDE * TILE;

// ---- helpers

const cheb = (ax, ay, bx, by) => Math.max(Math.abs(ax - bx), Math.abs(ay - by));
const itemName = (id) => content?.itemById.get(id)?.name ?? id;
const npcName = (kind) => content?.npcById.get(kind)?.name ?? kind;
const shortId = (id) => String(id).slice(0, 8);
// Names come with players as they are seen (PlayerSeen.name); an id never seen (a friend out of
// view, a message's sender) is asked of `GET /v1/names` once, and shows short until the answer.
const asked = new Set();
let askTimer = null;
function nameOf(id) {
  const known = names.get(id) ?? client?.world?.names.get(id);
  if (known) return known;
  if (!asked.has(id) && account?.tokens) {
    asked.add(id);
    askTimer ??= setTimeout(lookUpNames, 50);
  }
  return "Player " + shortId(id);
}
async function lookUpNames() {
  askTimer = null;
  const ids = [...asked].filter((id) => !names.has(id) && !client?.world?.names.get(id));
  try {
    const found = await account.names(ids);
    for (const [id, name] of Object.entries(found)) names.set(id, name);
    if (Object.keys(found).length) renderFriends();
  } catch (e) {
    for (const id of ids) asked.delete(id); // asked again the next time it is shown
  }
}
let blockedSet = new Set();

function log(text, cls = "sys") {
  const div = document.createElement("div");
  div.className = cls;
  div.textContent = text;
  const box = $("log");
  box.append(div);
  while (box.childNodes.length > 200) box.firstChild.remove();
  box.scrollTop = box.scrollHeight;
}

let toastTimer = 0;
function toast(text, ok = false) {
  const t = $("toast");
  t.textContent = text;
  t.className = ok ? "ok" : "";
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 3500);
}

function banner(text) {
  const b = $("banner");
  b.textContent = text ?? "";
  b.hidden = !text;
}

// Sends a command; every refusal is explained by the "outcome" listener of start().
function act(cmd) {
  return client.send(cmd);
}

function onOutcome(e) {
  const o = e.detail;
  if (o.accepted) return;
  const text = REJECTIONS[o.code] ?? `Refused (${o.code}).`;
  toast(text);
  log(`${text} [${o.code}]`, "bad");
}

// ---- login

function saveSession() {
  sessionStorage.setItem(STORE, JSON.stringify({ name: myName, tokens: account.tokens }));
}

async function onLogin(register) {
  const username = $("username").value.trim();
  const password = $("password").value;
  $("login-error").textContent = "";
  try {
    if (register) await account.register(username, password);
    await account.login(username, password);
  } catch (e) {
    const why = {
      username_taken: "That name is taken.",
      bad_username: "Names are 3–12 letters, digits, _ or -.",
      bad_password: "Passwords are 8–128 characters.",
      invalid_credentials: "Wrong name or password.",
      rate_limited: "Too many tries; wait a moment.",
      busy: "The server is busy; try again.",
    }[e.code];
    $("login-error").textContent = why ?? `${e.message} (${e.code ?? e})`;
    return;
  }
  myName = username;
  saveSession();
  start();
}

function start() {
  $("login").hidden = true;
  $("game").hidden = false;
  $("logout").hidden = false;
  $("whoami").textContent = myName;
  client = new Client({ account, content });
  window.loh.client = client;
  client.addEventListener("status", onStatus);
  client.addEventListener("welcome", (e) => {
    names.set(e.detail.player_id, myName);
    document.body.dataset.player = e.detail.player_id;
  });
  client.addEventListener("snapshot", () => {
    document.body.dataset.ready = "1";
    terrainKey = "";
    renderPanels();
  });
  client.addEventListener("tick", onTick);
  client.addEventListener("social", (e) => {
    const { world, name, event: ev } = e.detail;
    if (name === "PrivateMessageSent") log(`From ${nameOf(ev.player_id)} (${world}): ${ev.text}`, "pm");
    if (name === "PlayerPresence") log(`${nameOf(ev.player_id)} is ${ev.online ? "online" : "offline"} in ${world}.`);
    renderPanels();
  });
  client.addEventListener("broadcast", (e) => log(`News: ${e.detail.text}`, "good"));
  client.addEventListener("outcome", onOutcome);
  client.addEventListener("error", (e) => {
    const text = ERRORS[e.detail.code] ?? e.detail.message;
    toast(text);
    log(`${text} [${e.detail.code}]`, "bad");
  });
  client.connect();
}

function onStatus(e) {
  const { state, reason } = e.detail;
  const s = $("status");
  s.className = "status " + state;
  s.textContent = { connecting: "connecting…", connected: "connected", disconnected: "reconnecting…", closed: "not connected" }[state];
  document.body.dataset.state = state;
  if (state === "connected") {
    if (!$("banner").hidden) toast("Reconnected.", true);
    banner(null);
  } else if (state === "disconnected") {
    banner("Connection lost " + reason.replace(/^connection lost /, "").replace(/\); /, ") — ") + "…");
    log("Connection lost; reconnecting…", "bad");
  } else if (state === "closed" && reason && reason !== "closed by the page") {
    banner(reason);
  }
  saveSession(); // a refresh may have rotated the tokens
}

function onTick(e) {
  const w = client.world;
  const me = w.you?.player_id;
  for (const [name, ev] of e.detail.events) {
    switch (name) {
      case "PlayerSaid":
        if (!w.you.ignores.includes(ev.player_id)) log(`${nameOf(ev.player_id)}: ${ev.text}`, "say");
        break;
      case "PrivateMessageSent":
        if (ev.player_id === me) log(`To ${nameOf(ev.to)}: ${ev.text}`, "pm");
        else log(`From ${nameOf(ev.player_id)}: ${ev.text}`, "pm");
        break;
      case "PlayerPresence":
        log(`${nameOf(ev.player_id)} is ${ev.online ? "online" : "offline"}.`);
        break;
      case "LevelledUp":
        if (ev.player_id === me) log(`Your ${ev.skill} level is now ${ev.level}.`, "good");
        break;
      case "TradeRequested":
        if (ev.with === me) log(`${nameOf(ev.player_id)} wishes to trade with you.`, "pm");
        break;
      case "TradeOpened":
        if (w.trade) log(`Trading with ${nameOf(w.trade.with)}.`);
        break;
      case "TradeSettled":
        if (ev.player_id === me || ev.with === me) log("Trade completed.", "good");
        break;
      case "TradeCancelled":
        if (ev.player_id === me || ev.with === me) log(`Trade cancelled (${ev.reason}).`, "bad");
        break;
      case "GatheringStopped":
        if (ev.player_id === me) log(`You stop (${ev.reason.replace(/_/g, " ")}).`);
        break;
      case "PlayerDied":
        if (ev.player_id === me) {
          log("Oh dear, you are dead!", "bad");
          if ((ev.kept ?? []).length) {
            log(`You keep ${ev.kept.length} item(s); the rest lie in a grave where you fell, yours alone for 15 minutes.`);
          }
        }
        break;
      case "PathCleared":
        break;
      default:
        break;
    }
  }
  // Arrived where a click wanted to act?
  if (pending && w.you) {
    if (cheb(w.you.x, w.you.y, pending.x, pending.y) <= pending.reach) {
      const run = pending.run;
      pending = null;
      run();
    } else if (w.tick > pending.until) {
      pending = null;
    }
  }
  if (panel && w.you && cheb(w.you.x, w.you.y, panel.x, panel.y) > (panel.kind === "shop" ? 2 : 1)) panel = null;
  renderPanels();
}

// ---- the canvas

function zoneAt(x, y) {
  return content.zones.find((z) => x >= z.bounds.min_x && x <= z.bounds.max_x && y >= z.bounds.min_y && y <= z.bounds.max_y);
}

const ZONE_COLOURS = ["#3d6b35", "#2f5e2c", "#6b5a3a", "#4a6b5a", "#56703a", "#5a4a6b", "#6b3a34"];

function zoneColour(z, x, y) {
  if (!z) return "#262626";
  const i = content.zones.indexOf(z);
  if (z.kind === "pvp") return (x + y) % 2 ? "#5c2f2a" : "#583029";
  const base = ZONE_COLOURS[i % ZONE_COLOURS.length];
  return base;
}

function toScreen(x, y) {
  return [(x - view.camX + R) * TILE, (view.camY - y + R) * TILE];
}

function toTile(px, py) {
  return [view.camX - R + Math.floor(px / TILE), view.camY + R - Math.floor(py / TILE)];
}

function drawTerrain() {
  const key = `${view.camX},${view.camY}`;
  if (key === terrainKey) return;
  terrainKey = key;
  const g = terrain.getContext("2d");
  const m = content.map;
  for (let i = 0; i < SIDE; i++) {
    for (let j = 0; j < SIDE; j++) {
      const x = view.camX - R + i;
      const y = view.camY + R - j;
      const inMap = x >= m.min_x && x <= m.max_x && y >= m.min_y && y <= m.max_y;
      const z = inMap ? zoneAt(x, y) : null;
      g.fillStyle = inMap ? zoneColour(z, x, y) : "#000";
      g.fillRect(i * TILE, j * TILE, TILE, TILE);
      if (z?.members) {
        g.fillStyle = "rgba(150,110,220,0.18)";
        g.fillRect(i * TILE, j * TILE, TILE, TILE);
      }
      if (blockedSet.has(x + "," + y)) {
        g.fillStyle = "#555048";
        g.fillRect(i * TILE + 1, j * TILE + 1, TILE - 2, TILE - 2);
        g.strokeStyle = "#2a2723";
        g.strokeRect(i * TILE + 3, j * TILE + 3, TILE - 6, TILE - 6);
      }
      // Zone borders: a line where the neighbour lies in another zone.
      g.strokeStyle = "#f0c860";
      g.lineWidth = 2;
      const east = zoneAt(x + 1, y);
      const north = zoneAt(x, y + 1);
      if (inMap && east !== z) {
        g.beginPath();
        g.moveTo(i * TILE + TILE, j * TILE);
        g.lineTo(i * TILE + TILE, j * TILE + TILE);
        g.stroke();
      }
      if (inMap && north !== z) {
        g.beginPath();
        g.moveTo(i * TILE, j * TILE);
        g.lineTo(i * TILE + TILE, j * TILE);
        g.stroke();
      }
      g.lineWidth = 1;
    }
  }
  // Faint grid.
  g.strokeStyle = "rgba(0,0,0,0.12)";
  for (let i = 0; i <= SIDE; i++) {
    g.beginPath();
    g.moveTo(i * TILE, 0);
    g.lineTo(i * TILE, SIDE * TILE);
    g.moveTo(0, i * TILE);
    g.lineTo(SIDE * TILE, i * TILE);
    g.stroke();
  }
  // Zone names where the zone's top-left corner, or the view's, lies.
  g.font = "bold 11px system-ui";
  g.fillStyle = "rgba(255,240,200,0.55)";
  for (const z of content.zones) {
    const x = Math.max(z.bounds.min_x, view.camX - R);
    const y = Math.min(z.bounds.max_y, view.camY + R);
    if (x <= Math.min(z.bounds.max_x, view.camX + R) && y >= Math.max(z.bounds.min_y, view.camY - R)) {
      const [sx, sy] = toScreen(x, y);
      g.fillText(z.name + (z.kind === "pvp" ? " ⚔" : "") + (z.members ? " ★" : ""), sx + 4, sy + 13);
    }
  }
}

const OBJECT_STYLE = {
  bank: ["#c9a227", "B"],
  shop: ["#3a8fd0", "S"],
  furnace: ["#d0552a", "F"],
  anvil: ["#8a8a8a", "A"],
  range: ["#b0642a", "R"],
  altar: ["#e8e8f8", "✝"],
};

// Labels drawn this frame; one that would overlap another is left out (a crowd stays legible).
let labelled = [];

function label(g, text, x, y, colour = "#fff", check = true) {
  g.font = "11px system-ui";
  const w = g.measureText(text).width;
  // Kept inside the canvas.
  x = Math.min(Math.max(x, w / 2 + 2), SIDE * TILE - w / 2 - 2);
  y = Math.min(Math.max(y, 11), SIDE * TILE - 2);
  const r = [x - w / 2 - 2, y - 10, x + w / 2 + 2, y + 2];
  if (check && labelled.some((o) => r[0] < o[2] && o[0] < r[2] && r[1] < o[3] && o[1] < r[3])) return;
  labelled.push(r);
  g.fillStyle = "rgba(0,0,0,0.55)";
  g.fillRect(x - w / 2 - 2, y - 10, w + 4, 12);
  g.fillStyle = colour;
  g.fillText(text, x - w / 2, y);
}

function hpBar(g, sx, sy, hp, max) {
  if (hp == null || !max) return;
  g.fillStyle = "#a00";
  g.fillRect(sx + 2, sy - 3, TILE - 4, 3);
  g.fillStyle = "#0c0";
  g.fillRect(sx + 2, sy - 3, ((TILE - 4) * Math.max(0, hp)) / max, 3);
}

function draw() {
  const c = $("view");
  const g = c.getContext("2d");
  const w = client?.world;
  if (!w?.you || !content) {
    g.fillStyle = "#000";
    g.fillRect(0, 0, c.width, c.height);
    return;
  }
  view.camX = w.you.x;
  view.camY = w.you.y;
  drawTerrain();
  g.drawImage(terrain, 0, 0);
  // Your own label's place is kept first; it is drawn last, on top.
  labelled = [];
  {
    g.font = "11px system-ui";
    const tw = g.measureText(myName).width;
    const [mx, my] = toScreen(w.you.x, w.you.y);
    const cx = mx + TILE / 2;
    labelled.push([cx - tw / 2 - 2, my - 15, cx + tw / 2 + 2, my - 3]);
  }
  const inView = (x, y) => cheb(x, y, view.camX, view.camY) <= R;
  // Objects and gathering nodes (from /v1/content).
  for (const o of content.objects) {
    if (!inView(o.x, o.y)) continue;
    const [sx, sy] = toScreen(o.x, o.y);
    const [colour, letter] = OBJECT_STYLE[o.kind] ?? ["#fff", "?"];
    g.fillStyle = colour;
    g.fillRect(sx + 2, sy + 2, TILE - 4, TILE - 4);
    g.fillStyle = "#000";
    g.font = "bold 12px system-ui";
    g.fillText(letter, sx + 6, sy + 15);
  }
  for (const n of content.node_placements) {
    if (!inView(n.x, n.y)) continue;
    const [sx, sy] = toScreen(n.x, n.y);
    const def = content.nodeById.get(n.kind);
    const depleted = w.depleted.has(n.node);
    g.fillStyle = depleted ? "#5a5040" : { woodcutting: "#1f8a2a", mining: "#8c6b4a", fishing: "#3aa0e0" }[def?.skill] ?? "#aaa";
    g.beginPath();
    if (def?.skill === "woodcutting") {
      g.moveTo(sx + TILE / 2, sy + 1);
      g.lineTo(sx + TILE - 2, sy + TILE - 3);
      g.lineTo(sx + 2, sy + TILE - 3);
    } else {
      g.arc(sx + TILE / 2, sy + TILE / 2, TILE / 2 - 3, 0, Math.PI * 2);
    }
    g.fill();
  }
  // NPCs.
  for (const n of w.npcs.values()) {
    if (!inView(n.x, n.y)) continue;
    const [sx, sy] = toScreen(n.x, n.y);
    g.fillStyle = "#d23c3c";
    g.beginPath();
    g.arc(sx + TILE / 2, sy + TILE / 2, TILE / 2 - 3, 0, Math.PI * 2);
    g.fill();
    hpBar(g, sx, sy, n.hitpoints, content.npcById.get(n.kind)?.hitpoints);
    label(g, npcName(n.kind), sx + TILE / 2, sy - 5, "#ffb0a0");
  }
  // Players: the others, then you on top.
  for (const p of w.players.values()) {
    const [sx, sy] = toScreen(p.x, p.y);
    g.fillStyle = "#3c7dd2";
    g.beginPath();
    g.arc(sx + TILE / 2, sy + TILE / 2, TILE / 2 - 3, 0, Math.PI * 2);
    g.fill();
  }
  // Their names after every circle (none hides under a circle), below them: yours is above.
  for (const p of w.players.values()) {
    const [sx, sy] = toScreen(p.x, p.y);
    label(g, nameOf(p.player_id), sx + TILE / 2, sy + TILE + 10, "#cfe4ff");
  }
  const [sx, sy] = toScreen(w.you.x, w.you.y);
  g.fillStyle = "#f0c860";
  g.strokeStyle = "#fff";
  g.lineWidth = 2;
  g.beginPath();
  g.arc(sx + TILE / 2, sy + TILE / 2, TILE / 2 - 3, 0, Math.PI * 2);
  g.fill();
  g.stroke();
  g.lineWidth = 1;
  label(g, myName, sx + TILE / 2, sy - 5, "#fff3c0", false);
  // Ground items: a diamond in the tile's corner, seen even under a player.
  for (const it of w.ground.values()) {
    if (!inView(it.x, it.y)) continue;
    const [sx, sy] = toScreen(it.x, it.y);
    g.fillStyle = "#ffd84a";
    g.strokeStyle = "#000";
    g.beginPath();
    g.moveTo(sx + TILE - 5, sy + TILE - 10);
    g.lineTo(sx + TILE - 1, sy + TILE - 5);
    g.lineTo(sx + TILE - 5, sy + TILE - 1);
    g.lineTo(sx + TILE - 9, sy + TILE - 5);
    g.closePath();
    g.fill();
    g.stroke();
  }
  if (pending) {
    const [px, py] = toScreen(pending.x, pending.y);
    g.strokeStyle = "#ffef80";
    g.strokeRect(px + 1, py + 1, TILE - 2, TILE - 2);
  }
}

function frame(now) {
  if (lastFrameAt) intervals.push(now - lastFrameAt);
  lastFrameAt = now;
  const t0 = performance.now();
  try {
    draw();
  } catch (e) {
    console.error(e);
  }
  frames.push(performance.now() - t0);
  if (frames.length > 600) frames.shift();
  if (intervals.length > 600) intervals.shift();
  requestAnimationFrame(frame);
}

// ---- what is on a tile, and what a click does

function thingsAt(x, y) {
  const w = client.world;
  const me = w.you.player_id;
  return {
    npcs: [...w.npcs.values()].filter((n) => n.x === x && n.y === y),
    players: [...w.players.values()].filter((p) => p.x === x && p.y === y && p.player_id !== me),
    ground: [...w.ground.values()].filter((g) => g.x === x && g.y === y),
    objects: content.objects.filter((o) => o.x === x && o.y === y),
    nodes: content.node_placements.filter((n) => n.x === x && n.y === y),
  };
}

function walkable(x, y) {
  const m = content.map;
  return x >= m.min_x && x <= m.max_x && y >= m.min_y && y <= m.max_y && !blockedSet.has(x + "," + y);
}

/** Walks within `reach` of (x, y), then runs `run`; at once when already there. */
function approach(x, y, reach, run) {
  const me = client.world.you;
  if (cheb(me.x, me.y, x, y) <= reach) {
    pending = null;
    run();
    return;
  }
  // The free tile within reach nearest to the player.
  let best = null;
  for (let dx = -reach; dx <= reach; dx++) {
    for (let dy = -reach; dy <= reach; dy++) {
      const tx = x + dx;
      const ty = y + dy;
      if (!walkable(tx, ty)) continue;
      const d = cheb(me.x, me.y, tx, ty);
      if (!best || d < best.d) best = { tx, ty, d };
    }
  }
  if (!best) return toast("You can't reach that.");
  pending = { x, y, reach, run, until: client.world.tick + 80 };
  act({ WalkTo: { x: best.tx, y: best.ty, run: false } }).then((o) => {
    if (!o.accepted) pending = null;
  });
}

function openPanel(p) {
  panel = p;
  renderPanels();
}

function actionsAt(x, y) {
  const t = thingsAt(x, y);
  const out = [];
  for (const n of t.npcs) out.push([`Attack ${npcName(n.kind)}`, () => act({ AttackNpc: { npc: n.npc } })]);
  for (const p of t.players) {
    const id = p.player_id;
    out.push([`Trade with ${nameOf(id)}`, () => act({ TradeRequest: { player_id: uuidBytes(id) } })]);
    if (!client.world.you.friends.includes(id)) out.push([`Add ${nameOf(id)} as a friend`, () => act({ AddFriend: { player_id: uuidBytes(id) } })]);
    out.push([`Attack ${nameOf(id)}`, () => act({ AttackPlayer: { player_id: uuidBytes(id) } })]);
  }
  if (t.ground.some((g) => g.owner === client.world.you.player_id)) {
    out.push(["Reclaim your grave", () => approach(x, y, 1, () => act("ReclaimGrave"))]);
  }
  for (const g of t.ground) out.push([`Take ${itemName(g.item)}${g.qty > 1 ? " ×" + g.qty : ""}`, () => approach(x, y, 0, () => act({ PickUp: { ground_id: g.ground_id } }))]);
  for (const o of t.objects) {
    if (o.kind === "bank") out.push(["Open the bank", () => approach(x, y, 1, () => openPanel({ kind: "bank", x, y }))]);
    else if (o.kind === "shop") out.push([`Trade at ${content.shopById.get(o.shop)?.name ?? o.shop}`, () => approach(x, y, 2, () => openPanel({ kind: "shop", shop: o.shop, x, y }))]);
    else if (o.kind === "altar") out.push(["Pray at the altar", () => approach(x, y, 1, () => act("PrayAtAltar"))]);
    else out.push([`Use the ${o.kind}`, () => approach(x, y, 1, () => openPanel({ kind: "station", station: o.kind, x, y }))]);
  }
  for (const n of t.nodes) {
    const def = content.nodeById.get(n.kind);
    out.push([`${{ woodcutting: "Chop", mining: "Mine", fishing: "Fish at" }[def?.skill] ?? "Gather"} ${def?.name ?? n.kind}`, () => approach(x, y, 1, () => act({ Gather: { x, y } }))]);
  }
  return out;
}

function walkTo(x, y) {
  pending = null;
  act({ WalkTo: { x, y, run: false } });
}

function tileOfEvent(ev) {
  const r = $("view").getBoundingClientRect();
  return toTile(ev.clientX - r.left, ev.clientY - r.top);
}

function showMenu(ev, items) {
  const m = $("menu");
  m.replaceChildren();
  for (const [text, run] of items) {
    const d = document.createElement("div");
    d.textContent = text;
    d.onclick = () => {
      m.hidden = true;
      run();
    };
    m.append(d);
  }
  const cancel = document.createElement("div");
  cancel.textContent = "Cancel";
  cancel.onclick = () => (m.hidden = true);
  m.append(cancel);
  m.style.left = ev.clientX + "px";
  m.style.top = ev.clientY + "px";
  m.hidden = false;
}

function onCanvasClick(ev) {
  $("menu").hidden = true;
  if (!client?.world.you) return;
  const [x, y] = tileOfEvent(ev);
  const acts = actionsAt(x, y);
  const players = thingsAt(x, y).players;
  if (players.length) return showMenu(ev, acts); // a player: choose what to do
  if (acts.length) return acts[0][1]();
  walkTo(x, y);
}

function onCanvasMenu(ev) {
  ev.preventDefault();
  if (!client?.world.you) return;
  const [x, y] = tileOfEvent(ev);
  showMenu(ev, [...actionsAt(x, y), [`Walk here (${x}, ${y})`, () => walkTo(x, y)]]);
}

function onCanvasHover(ev) {
  if (!client?.world.you) return;
  const [x, y] = tileOfEvent(ev);
  const acts = actionsAt(x, y);
  const z = zoneAt(x, y);
  $("hover").textContent = `(${x}, ${y}) ${z ? z.name : ""} ${acts.length ? "— " + acts[0][0] : ""}`;
}

// ---- the panels

function slotActions(i, s) {
  const def = content.itemById.get(s.item);
  const out = [];
  const w = client.world;
  if (w.trade) out.push([`Offer ${def?.name ?? s.item}`, () => act({ TradeOffer: { slot: i, qty: 0 } })]);
  if (panel?.kind === "bank") out.push(["Deposit", () => act({ BankDeposit: { slot: i, qty: 0 } })]);
  if (panel?.kind === "shop") out.push(["Sell", () => act({ Sell: { shop: panel.shop, slot: i, qty: 0 } })]);
  if (def?.heals) out.push(["Eat", () => act({ Eat: { slot: i } })]);
  if (def?.prayer_xp) {
    out.push(["Bury", () => act({ Bury: { slot: i } })]);
    out.push(["Offer at the altar", () => act({ OfferAtAltar: { slot: i } })]);
  }
  if (def?.equip) out.push([def.equip.slot === "weapon" ? "Wield" : "Wear", () => act({ Equip: { slot: i } })]);
  out.push(["Drop", () => act({ DropItem: { slot: i } })]);
  out.push([`Examine (worth ${def?.value ?? "?"} coins)`, () => log(`${def?.name ?? s.item}: ${def?.stackable ? "stackable, " : ""}worth ${def?.value ?? "?"} coins.`)]);
  return out;
}

function renderInventory() {
  const box = $("inventory");
  const inv = client.world.you.inventory;
  if (box.childNodes.length !== 28) {
    box.replaceChildren();
    for (let i = 0; i < 28; i++) {
      const d = document.createElement("div");
      d.className = "slot";
      d.dataset.slot = i;
      d.addEventListener("dragstart", (e) => e.dataTransfer.setData("text/plain", String(i)));
      d.addEventListener("dragover", (e) => {
        e.preventDefault();
        d.classList.add("drag-over");
      });
      d.addEventListener("dragleave", () => d.classList.remove("drag-over"));
      d.addEventListener("drop", (e) => {
        e.preventDefault();
        d.classList.remove("drag-over");
        const from = Number(e.dataTransfer.getData("text/plain"));
        if (!Number.isNaN(from) && from !== i) act({ MoveItem: { from, to: i } });
      });
      d.addEventListener("click", () => {
        const s = client.world.you.inventory[i];
        if (s) slotActions(i, s)[0][1]();
      });
      d.addEventListener("contextmenu", (e) => {
        e.preventDefault();
        const s = client.world.you.inventory[i];
        if (s) showMenu(e, slotActions(i, s));
      });
      box.append(d);
    }
  }
  inv.forEach((s, i) => {
    const d = box.childNodes[i];
    const text = s ? `${s.item}:${s.qty}` : "";
    if (d.dataset.item === text) return;
    d.dataset.item = text;
    d.className = "slot" + (s ? "" : " empty");
    d.draggable = !!s;
    d.title = s ? `${itemName(s.item)} ×${s.qty}` : "";
    d.replaceChildren();
    if (s) {
      const q = document.createElement("span");
      q.className = "q";
      q.textContent = s.qty > 1 || content.itemById.get(s.item)?.stackable ? String(s.qty) : "";
      const n = document.createElement("span");
      n.className = "n";
      n.textContent = itemName(s.item);
      d.append(q, n);
    }
  });
}

function table(rows, head) {
  const t = document.createElement("table");
  if (head) {
    const tr = document.createElement("tr");
    for (const h of head) {
      const th = document.createElement("th");
      th.textContent = h;
      tr.append(th);
    }
    t.append(tr);
  }
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const cell of r.cells) {
      const td = document.createElement("td");
      if (typeof cell === "number") td.className = "num";
      td.textContent = typeof cell === "number" ? cell.toLocaleString("en") : cell;
      tr.append(td);
    }
    if (r.onclick) {
      tr.style.cursor = "pointer";
      tr.onclick = r.onclick;
    }
    t.append(tr);
  }
  return t;
}

const EQUIP_SLOTS = ["head", "cape", "neck", "ammo", "weapon", "body", "shield", "legs", "hands", "feet", "ring"];

function renderSide() {
  const w = client.world;
  const you = w.you;
  const hpMax = you.skills.find((s) => s.skill === "hitpoints")?.level ?? 10;
  const prMax = you.skills.find((s) => s.skill === "prayer")?.level ?? 1;
  $("hp-text").textContent = `${you.hitpoints} / ${hpMax}`;
  $("hp-bar").style.width = Math.min(100, (100 * you.hitpoints) / hpMax) + "%";
  $("pray-text").textContent = `${you.prayer_points} / ${prMax}`;
  $("pray-bar").style.width = Math.min(100, (100 * you.prayer_points) / prMax) + "%";
  const z = zoneAt(you.x, you.y);
  $("position").textContent = `(${you.x}, ${you.y}) ${z?.name ?? ""} · tick ${w.tick}${w.gathering != null ? " · gathering" : ""}`;
  renderInventory();
  $("equipment").replaceChildren(
    table(
      EQUIP_SLOTS.map((s) => ({
        cells: [s, you.equipment[s] ? itemName(you.equipment[s]) : "—"],
        onclick: you.equipment[s] ? () => act({ Unequip: { equip_slot: s } }) : null,
      })),
      ["Slot", "Worn (click to remove)"],
    ),
  );
  const total = you.skills.reduce((a, s) => a + s.level, 0);
  $("skills").replaceChildren(
    table(
      [...you.skills.map((s) => ({ cells: [s.skill[0].toUpperCase() + s.skill.slice(1), s.level, s.xp] })), { cells: ["Total", total, you.skills.reduce((a, s) => a + s.xp, 0)] }],
      ["Skill", "Level", "XP"],
    ),
  );
  // The styles of the weapon in hand (a bow's or melee's, from GET /v1/content), and the
  // spells to fight with instead.
  const bow = !!content.itemById.get(you.equipment.weapon)?.bow;
  const styles = document.createElement("select");
  for (const s of (content.attack_styles ?? []).filter((s) => s.weapon === (bow ? "bow" : "melee"))) {
    styles.add(new Option(`${s.style} (${s.effect})`, s.style, false, s.style === you.style));
  }
  styles.onchange = () => act({ SetAttackStyle: { style: styles.value } });
  const spells = document.createElement("select");
  spells.add(new Option(bow ? "the bow" : "the weapon", "", false, !you.autocast));
  for (const s of content.spells ?? []) {
    const runes = s.runes.map((r) => `${r.qty} ${itemName(r.item)}`).join(", ");
    spells.add(new Option(`${s.name} (Magic ${s.level}; ${runes})`, s.id, false, s.id === you.autocast));
  }
  spells.onchange = () => act({ SetAutocast: { spell: spells.value || null } });
  const spellRow = document.createElement("p");
  spellRow.append("Fight with: ", spells);
  const prayers = table(
    content.prayers.map((p) => ({
      cells: [(you.prayers.includes(p.id) ? "● " : "○ ") + p.name, "level " + p.level],
      onclick: () => act({ Pray: { prayer: p.id, on: !you.prayers.includes(p.id) } }),
    })),
  );
  const styleRow = document.createElement("p");
  styleRow.append("Attack style: ", styles);
  $("prayers").replaceChildren(styleRow, spellRow, prayers);
  renderFriends();
}

function renderFriends() {
  const w = client.world;
  const box = $("friends");
  box.replaceChildren();
  const p = document.createElement("p");
  p.textContent = "Add friends by clicking them in the world. Private messages reach friends who list you too.";
  box.append(p);
  for (const id of w.you.friends) {
    const row = document.createElement("div");
    const on = w.presence.get(id);
    const dot = document.createElement("span");
    dot.className = "dot " + (on === true ? "on" : on === false ? "off" : "");
    const elsewhere = w.friendWorld.get(id);
    dot.title = on === true ? (elsewhere ? `online in ${elsewhere}` : "online") : on === false ? "offline" : "not known yet";
    const n = document.createElement("span");
    n.textContent = nameOf(id) + " ";
    const pm = document.createElement("button");
    pm.textContent = "Message";
    pm.onclick = () => {
      $("chat-to").value = id;
      $("chat-text").focus();
    };
    const rm = document.createElement("button");
    rm.textContent = "Remove";
    rm.onclick = () => act({ RemoveFriend: { player_id: uuidBytes(id) } });
    row.append(dot, n, pm, " ", rm);
    box.append(row);
  }
  // The chat's recipients: local, or a friend.
  const sel = $("chat-to");
  const want = ["", ...w.you.friends.map((id) => id + "=" + nameOf(id))].join(",");
  if (sel.dataset.list !== want) {
    const cur = sel.value;
    sel.replaceChildren(new Option("Local", ""));
    for (const id of w.you.friends) sel.add(new Option("To " + nameOf(id), id));
    sel.value = w.you.friends.includes(cur) ? cur : "";
    sel.dataset.list = want;
  }
}

function row(text, qty, onclick, oncontext) {
  const d = document.createElement("div");
  d.className = "row";
  const a = document.createElement("span");
  a.textContent = text;
  const b = document.createElement("span");
  b.textContent = qty;
  d.append(a, b);
  if (onclick) d.onclick = onclick;
  if (oncontext)
    d.oncontextmenu = (e) => {
      e.preventDefault();
      oncontext(e);
    };
  return d;
}

function renderPanels() {
  if (!client?.world.you) return;
  renderSide();
  const w = client.world;
  const box = $("panel");
  // Drawn again only when what it shows changed (a button under the mouse stays put).
  const key = JSON.stringify([w.trade, panel, panel?.kind === "bank" ? w.you.bank : null, [...w.tradeRequests]]);
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren();
  const close = document.createElement("button");
  close.textContent = "Close";
  close.onclick = () => {
    panel = null;
    renderPanels();
  };
  const title = (t) => {
    const h = document.createElement("h3");
    h.textContent = t;
    return h;
  };
  if (w.trade) {
    const t = w.trade;
    box.dataset.kind = "trade";
    box.dataset.stage = t.stage;
    box.append(title(`Trade with ${nameOf(t.with)} — ${t.stage === "offer" ? "offer screen" : "confirm screen"}`));
    const hint = document.createElement("p");
    hint.textContent = t.stage === "offer" ? "Click items in your inventory to offer them." : "Check both offers, then accept to swap.";
    const cols = document.createElement("div");
    cols.className = "cols";
    const side = (who, list, acc) => {
      const d = document.createElement("div");
      d.className = "side-" + who;
      d.append(title(who === "mine" ? "You offer" + (acc ? " ✔" : "") : "They offer" + (acc ? " ✔" : "")));
      for (const o of list) d.append(row(itemName(o.item), "×" + o.qty));
      return d;
    };
    cols.append(side("mine", t.mine, t.accepted), side("theirs", t.theirs, t.theyAccepted));
    const accept = document.createElement("button");
    accept.id = "trade-accept";
    accept.textContent = t.accepted ? "Waiting for the other player…" : "Accept";
    accept.disabled = t.accepted;
    accept.onclick = () => act("TradeAccept");
    const decline = document.createElement("button");
    decline.id = "trade-decline";
    decline.textContent = "Decline";
    decline.onclick = () => act("TradeDecline");
    box.append(hint, cols, accept, " ", decline);
  } else if (panel?.kind === "bank") {
    box.dataset.kind = "bank";
    box.append(title("Bank — click to withdraw one, right-click for all; click inventory items to deposit"));
    const entries = Object.entries(w.you.bank);
    if (!entries.length) box.append(row("(empty)", ""));
    for (const [item, qty] of entries) {
      box.append(
        row(itemName(item), "×" + qty, () => act({ BankWithdraw: { item, qty: 1 } }), () => act({ BankWithdraw: { item, qty } })),
      );
    }
    const all = document.createElement("button");
    all.textContent = "Deposit everything";
    all.onclick = () => act("BankDepositAll");
    box.append(all, " ", close);
  } else if (panel?.kind === "shop") {
    const shop = content.shopById.get(panel.shop);
    box.dataset.kind = "shop";
    box.append(title(`${shop?.name ?? panel.shop} — click to buy one; click inventory items to sell`));
    // The shop's own stock, then what players sold it (seen as `ShopStockChanged`).
    const items = [...(shop?.stock ?? [])];
    for (const [key, n] of client.world.shopStock) {
      const [s, item] = key.split("/");
      if (s === panel.shop && n > 0 && !items.includes(item)) items.push(item);
    }
    for (const item of items) {
      const full = shop?.full_stock?.[item] ?? 0;
      const held = client.world.shopStock.get(`${panel.shop}/${item}`) ?? full;
      const value = content.itemById.get(item)?.value;
      // One item's price, as world/src/shops.rs prices it.
      const price = value === undefined ? "?" : Math.floor((value * Math.max(10, 100 + 3 * (full - held))) / 100);
      box.append(row(itemName(item), `${price} coin${price === 1 ? "" : "s"} · ${held} left`, () => act({ Buy: { shop: panel.shop, item, qty: 1 } })));
    }
    box.append(close);
  } else if (panel?.kind === "station") {
    box.dataset.kind = "station";
    box.append(title(`The ${panel.station} — click a recipe to make it once`));
    for (const r of content.recipes.filter((r) => r.station === panel.station)) {
      const ins = r.inputs.map((s) => `${s.qty} ${itemName(s.item)}`).join(", ");
      box.append(row(`${r.id.replace(/_/g, " ")} (${r.skill} ${r.level})`, ins, () => act({ Produce: { recipe: r.id } })));
    }
    box.append(close);
  } else {
    box.dataset.kind = "";
  }
  box.hidden = !box.childNodes.length;
  // Trade requests waiting for an answer.
  const req = $("requests");
  req.replaceChildren();
  for (const id of w.tradeRequests) {
    const b = document.createElement("button");
    b.className = "trade-request";
    b.textContent = `Accept the trade from ${nameOf(id)}`;
    b.onclick = () => act({ TradeRequest: { player_id: uuidBytes(id) } });
    req.append(b);
  }
}

// ---- chat

function onChatKey(ev) {
  if (ev.key !== "Enter") return;
  const text = $("chat-text").value.trim();
  if (!text) return;
  const to = $("chat-to").value;
  $("chat-text").value = "";
  if (to) act({ PrivateMessage: { to: uuidBytes(to), text } });
  else act({ Say: { text } });
}

// ---- start

async function main() {
  window.loh = {
    frameStats() {
      const q = (xs, p) => {
        const s = [...xs].sort((a, b) => a - b);
        return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : null;
      };
      return { frames: frames.length, draw_p50: q(frames, 0.5), draw_p95: q(frames, 0.95), draw_max: q(frames, 1), interval_p50: q(intervals, 0.5), interval_p95: q(intervals, 0.95) };
    },
    resetFrames() {
      frames.length = 0;
      intervals.length = 0;
      lastFrameAt = 0;
    },
    tileCentre(x, y) {
      const [sx, sy] = toScreen(x, y);
      return [sx + TILE / 2, sy + TILE / 2];
    },
    names,
  };
  account = new Account();
  try {
    content = await fetchContent();
  } catch (e) {
    $("login-error").textContent = "The server does not answer: " + e.message;
    return;
  }
  window.loh.content = content;
  window.loh.account = account;
  blockedSet = new Set(content.blocked.map(([x, y]) => x + "," + y));
  $("login-btn").onclick = () => onLogin(false);
  $("register-btn").onclick = () => onLogin(true);
  $("password").addEventListener("keydown", (e) => e.key === "Enter" && onLogin(false));
  $("logout").onclick = async () => {
    try {
      await account.logout();
    } catch {
      // the session may already be gone
    }
    sessionStorage.removeItem(STORE);
    location.reload();
  };
  for (const b of document.querySelectorAll("#tabs button")) {
    b.onclick = () => {
      for (const o of document.querySelectorAll("#tabs button")) o.classList.toggle("on", o === b);
      for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== b.dataset.tab;
    };
  }
  const c = $("view");
  c.addEventListener("click", onCanvasClick);
  c.addEventListener("contextmenu", onCanvasMenu);
  c.addEventListener("mousemove", onCanvasHover);
  document.addEventListener("click", (e) => {
    if (!$("menu").contains(e.target) && e.target !== c) $("menu").hidden = true;
  });
  $("chat-text").addEventListener("keydown", onChatKey);
  requestAnimationFrame(frame);
  // A reload keeps the session of this tab: reconnect and redraw from the snapshot.
  const saved = JSON.parse(sessionStorage.getItem(STORE) ?? "null");
  if (saved?.tokens) {
    account.tokens = saved.tokens;
    myName = saved.name;
    start();
  } else {
    document.body.dataset.ready = "login";
  }
}

main();
