// loh-client.js — the reference client module of the loh protocol (docs/CLIENTS.md).
//
// Lift this file into your own web client. It needs a MessagePack codec with `encode` and
// `decode` (the page passes the vendored @msgpack/msgpack, `globalThis.MessagePack`) and, in a
// browser, nothing else. It does four things:
//   - Account: register, log in (browser mode: the CSRF token), refresh, log out (HTTP/JSON).
//   - Connection: the binary WebSocket, Hello, Ping, automatic reconnect with back-off.
//   - World: the snapshot and every TickUpdate folded into one model of what the server shows.
//   - Commands: sequence numbers, one command in flight at a time, each answered exactly once;
//     after a reconnect the command in flight is sent again with the SAME seq, so the server
//     answers it with its original outcome and never applies it twice.
//
// Wire facts a client author must know (docs/protocol.md, "For client authors"): frames are
// MessagePack maps with string keys, enums are externally tagged; player ids arrive as UUID
// strings in server frames but must be sent as 16-byte MessagePack binary in commands.

export const PROTOCOL = 1;

/** The 16 bytes of a UUID string, as commands carry player ids (MessagePack bin 8, length 16). */
export function uuidBytes(id) {
  const hex = String(id).replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a UUID: ${id}`);
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A ground item with its `owner` (a grave's or a drop's) as a UUID string. */
function ownerAsString(g) {
  if (g.owner != null && typeof g.owner !== "string") g.owner = uuidString(g.owner);
  return g;
}

/** A player id as a UUID string, whether it arrived as a string or as 16 bytes. */
export function uuidString(v) {
  if (typeof v === "string") return v.toLowerCase();
  if (v instanceof Uint8Array && v.length === 16) {
    const h = Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  return String(v);
}

/** The one key and value of an externally tagged enum (`{"Variant": {...}}` or `"Variant"`). */
export function tagged(v) {
  if (typeof v === "string") return [v, {}];
  if (v instanceof Map) {
    const [[k, inner]] = v.entries();
    return [k, inner];
  }
  const k = Object.keys(v)[0];
  return [k, v[k]];
}

/** An HTTP error of the auth routes: `status`, the stable `code` and the `message`. */
export class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The account routes of the game server, in browser mode. */
export class Account {
  constructor(base = globalThis.location?.origin ?? "") {
    this.base = base;
    this.tokens = null; // the login answer: access_token, refresh_token, csrf_token, …
  }

  async #post(path, body, headers = {}) {
    const res = await fetch(this.base + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const e = json?.error ?? {};
      throw new HttpError(res.status, e.code ?? "http_" + res.status, e.message ?? res.statusText);
    }
    return json;
  }

  /** `POST /v1/auth/register` → `{player_id}`. */
  register(username, password) {
    return this.#post("/v1/auth/register", { username, password });
  }

  /** `POST /v1/auth/login`; keeps the tokens (a browser also gets the CSRF token and cookie). */
  async login(username, password) {
    this.tokens = await this.#post("/v1/auth/login", { username, password });
    return this.tokens;
  }

  /** `POST /v1/auth/refresh`: a new pair for the refresh token, with the CSRF token. */
  async refresh() {
    if (!this.tokens) throw new HttpError(401, "not_logged_in", "log in first");
    this.tokens = await this.#post(
      "/v1/auth/refresh",
      { refresh_token: this.tokens.refresh_token },
      { "x-csrf-token": this.tokens.csrf_token ?? "" },
    );
    return this.tokens;
  }

  /** `GET /v1/names?ids=…` (Bearer): `{id: display name}` of up to 100 players (accounts only). */
  async names(ids) {
    if (!this.tokens || ids.length === 0) return {};
    const q = encodeURIComponent(ids.slice(0, 100).join(","));
    const res = await fetch(this.base + "/v1/names?ids=" + q, {
      headers: { authorization: "Bearer " + this.tokens.access_token },
    });
    if (!res.ok) throw new HttpError(res.status, "names", "GET /v1/names failed");
    return (await res.json()).names ?? {};
  }

  /** `POST /v1/auth/logout`: the session's tokens stop working and its WebSocket closes. */
  async logout() {
    if (!this.tokens) return;
    await this.#post("/v1/auth/logout", undefined, {
      authorization: "Bearer " + this.tokens.access_token,
      "x-csrf-token": this.tokens.csrf_token ?? "",
    });
    this.tokens = null;
  }
}

/** `GET /v1/content` (items, NPCs, objects, the map), revalidated by its ETag. */
export async function fetchContent(base = globalThis.location?.origin ?? "", cached = null) {
  const headers = cached?.etag ? { "if-none-match": cached.etag } : {};
  const res = await fetch(base + "/v1/content", { headers });
  if (res.status === 304 && cached) return cached;
  if (!res.ok) throw new HttpError(res.status, "content", "GET /v1/content failed");
  const doc = await res.json();
  doc.etag = res.headers.get("etag");
  doc.itemById = new Map(doc.items.map((i) => [i.id, i]));
  doc.npcById = new Map(doc.npcs.map((n) => [n.id, n]));
  doc.nodeById = new Map(doc.nodes.map((n) => [n.id, n]));
  doc.shopById = new Map(doc.shops.map((s) => [s.id, s]));
  return doc;
}

const SLOTS = 28;

/**
 * What the server shows this player, folded from the Snapshot and every TickUpdate. The rules
 * below are the server's own `apply` for the player's state (world/src/*.rs); the server sends a
 * fresh Snapshot after every reconnect, so a client that misses something is whole again then.
 */
export class World {
  constructor(content) {
    this.content = content;
    this.tick = 0;
    this.you = null;
    this.players = new Map(); // player id → {player_id, x, y, hitpoints, equipment, name}
    this.names = new Map(); // player id → display name, of every player seen so far
    this.npcs = new Map(); // npc id → {npc, kind, x, y, hitpoints}
    this.ground = new Map(); // ground_id → GroundItem
    this.depleted = new Map(); // node index → tick it respawns
    this.shopStock = new Map(); // "shop/item" → what the shop holds, as last seen (else full stock)
    this.trade = null; // {with, stage: "offer"|"confirm", mine: [], theirs: [], accepted, theyAccepted}
    this.tradeRequests = new Set(); // players who asked us to trade
    this.presence = new Map(); // friend id → online
    this.friendWorld = new Map(); // friend id → the other world they are online in (Social)
    this.gathering = null;
    this.target = null; // what the player is fighting: {Npc: id} or {Player: id}
  }

  stackable(item) {
    const d = this.content?.itemById?.get(item);
    return d ? !!d.stackable : true;
  }

  /** The Snapshot frame: the whole state, replacing what was held. */
  snapshot(s) {
    this.tick = s.tick;
    this.you = s.you;
    this.you.player_id = uuidString(s.you.player_id);
    this.you.friends = (s.you.friends ?? []).map(uuidString);
    this.you.ignores = (s.you.ignores ?? []).map(uuidString);
    this.players = new Map(s.players.map((p) => [uuidString(p.player_id), { ...p, player_id: uuidString(p.player_id) }]));
    for (const p of this.players.values()) if (p.name) this.names.set(p.player_id, p.name);
    this.npcs = new Map(s.npcs.map((n) => [n.npc, n]));
    this.ground = new Map(s.ground.map((g) => [g.ground_id, ownerAsString(g)]));
    this.trade = null; // a trade does not survive a reconnect (TradeCancelled "disconnected")
    this.tradeRequests.clear();
    this.gathering = null;
    this.target = null;
    // Friends online now are listed (`friends_online`, left out when none); the others are not.
    const online = new Set((s.you.friends_online ?? []).map(uuidString));
    this.presence.clear();
    this.friendWorld.clear();
    for (const f of this.you.friends) this.presence.set(f, online.has(f) || this.players.has(f));
  }

  // Inventory rules of world/src/inventory.rs.
  #add(item, qty) {
    const inv = this.you.inventory;
    if (!qty) return;
    if (this.stackable(item)) {
      const s = inv.find((s) => s && s.item === item);
      if (s) {
        s.qty = Math.min(s.qty + qty, 2147483647);
        return;
      }
      const i = inv.findIndex((s) => !s);
      if (i >= 0) inv[i] = { item, qty };
    } else {
      for (let n = 0; n < qty; n++) {
        const i = inv.findIndex((s) => !s);
        if (i >= 0) inv[i] = { item, qty: 1 };
      }
    }
  }

  #takeFrom(slot, qty) {
    const inv = this.you.inventory;
    const s = inv[slot];
    if (!s) return;
    s.qty = Math.max(0, s.qty - qty);
    if (s.qty === 0) inv[slot] = null;
  }

  #remove(item, qty) {
    for (let i = 0; i < SLOTS && qty > 0; i++) {
      const s = this.you.inventory[i];
      if (s && s.item === item) {
        const n = Math.min(s.qty, qty);
        this.#takeFrom(i, n);
        qty -= n;
      }
    }
  }

  #skill(skill) {
    return this.you.skills.find((s) => s.skill === skill);
  }

  #someone(id) {
    return id === this.you.player_id ? this.you : this.players.get(id);
  }

  /** Folds one event (`[name, fields]`); returns it with ids as strings, for the caller's log. */
  apply(name, e) {
    for (const k of ["player_id", "with", "friend", "ignored", "to", "killer", "owner"]) {
      if (e[k] != null && typeof e[k] !== "number") e[k] = uuidString(e[k]);
    }
    const me = this.you?.player_id;
    const mine = e.player_id === me;
    switch (name) {
      case "PlayerSpawned":
      case "PlayerMoved": {
        const p = this.#someone(e.player_id);
        if (p) {
          p.x = e.x;
          p.y = e.y;
        }
        if (mine) this.gathering = null;
        break;
      }
      case "PlayerAppeared":
        this.players.set(e.player_id, e);
        if (e.name) this.names.set(e.player_id, e.name);
        if (this.you.friends.includes(e.player_id)) this.presence.set(e.player_id, true);
        break;
      case "PlayerDisappeared":
        this.players.delete(e.player_id);
        break;
      case "NpcAppeared":
      case "NpcSpawned":
        this.npcs.set(e.npc, { npc: e.npc, kind: e.kind, x: e.x, y: e.y, hitpoints: e.hitpoints });
        break;
      case "NpcDisappeared":
        this.npcs.delete(e.npc);
        break;
      case "NpcMoved": {
        const n = this.npcs.get(e.npc);
        if (n) {
          n.x = e.x;
          n.y = e.y;
        }
        break;
      }
      case "NpcDied":
        this.npcs.delete(e.npc);
        if (this.target?.Npc === e.npc) this.target = null;
        for (const g of e.loot ?? []) this.ground.set(g.ground_id, ownerAsString(g));
        break;
      case "GroundItemAppeared":
        this.ground.set(e.ground_id, e);
        break;
      case "GroundItemDisappeared":
      case "GroundItemDespawned":
        this.ground.delete(e.ground_id);
        break;
      case "ItemDropped":
        if (mine) this.#takeFrom(e.slot, e.ground.qty);
        this.ground.set(e.ground.ground_id, e.ground);
        break;
      case "ItemPickedUp":
        this.ground.delete(e.ground_id);
        if (mine) this.#add(e.item, e.qty);
        break;
      case "ItemsMinted":
        if (mine) this.#add(e.item, e.qty);
        break;
      case "ItemsBurned":
        if (mine) this.#takeFrom(e.slot, e.qty);
        break;
      case "ItemMoved":
        if (mine) {
          const inv = this.you.inventory;
          [inv[e.from], inv[e.to]] = [inv[e.to], inv[e.from]];
        }
        break;
      case "BankDeposited":
        if (mine) {
          this.#takeFrom(e.slot, e.qty);
          this.you.bank[e.item] = (this.you.bank[e.item] ?? 0) + e.qty;
        }
        break;
      case "BankWithdrawn":
        if (mine) {
          const left = (this.you.bank[e.item] ?? 0) - e.qty;
          if (left > 0) this.you.bank[e.item] = left;
          else delete this.you.bank[e.item];
          this.#add(e.item, e.qty);
        }
        break;
      case "ItemEquipped": {
        const p = this.#someone(e.player_id);
        if (mine) {
          this.#takeFrom(e.slot, 1);
          const old = this.you.equipment[e.equip_slot];
          this.you.equipment[e.equip_slot] = e.item;
          if (old) this.#add(old, 1);
        } else if (p) {
          p.equipment = { ...(p.equipment ?? {}), [e.equip_slot]: e.item };
        }
        break;
      }
      case "ItemUnequipped": {
        const p = this.#someone(e.player_id);
        if (p?.equipment) delete p.equipment[e.equip_slot];
        if (mine) this.#add(e.item, 1);
        break;
      }
      case "MembershipChanged":
        if (mine) this.you.members = e.members;
        break;
      case "XpGained":
        if (mine) {
          const s = this.#skill(e.skill);
          if (s) s.xp = Math.min(s.xp + e.xp, 200000000);
        }
        break;
      case "LevelledUp":
        if (mine) {
          const s = this.#skill(e.skill);
          if (s) {
            if (e.skill === "hitpoints") this.you.hitpoints += e.level - s.level;
            s.level = e.level;
          }
        }
        break;
      case "GatheringStarted":
        if (mine) this.gathering = e.node;
        break;
      case "GatheringStopped":
        if (mine) this.gathering = null;
        break;
      case "ResourceGathered":
        if (mine) {
          this.#add(e.item, 1);
          const s = this.#skill(e.skill);
          if (s) s.xp += e.xp;
        }
        if (e.depleted_until != null) this.depleted.set(e.node, e.depleted_until);
        break;
      case "NodeRespawned":
        this.depleted.delete(e.node);
        break;
      case "ItemsProduced":
        if (mine) {
          for (const s of e.consumed) this.#remove(s.item, s.qty);
          for (const s of e.produced) this.#add(s.item, s.qty);
          const s = this.#skill(e.skill);
          if (s) s.xp += e.xp;
        }
        break;
      case "ShopBought":
        if (mine) {
          this.#remove("coins", e.price);
          this.#add(e.item, e.qty);
        }
        break;
      case "ShopSold":
        if (mine) {
          this.#takeFrom(e.slot, e.qty);
          this.#add("coins", e.price);
        }
        break;
      case "ShopStockChanged":
        this.shopStock.set(`${e.shop}/${e.item}`, e.stock);
        break;
      case "CombatTargetSet":
        if (mine) {
          const [kind, target] = tagged(e.target);
          this.target = kind === "Player" ? { Player: uuidString(target) } : { Npc: target };
        }
        break;
      case "CombatTargetCleared":
        if (mine) this.target = null;
        break;
      case "AutocastSet":
        if (mine) this.you.autocast = e.spell ?? null;
        break;
      case "AttackStyleSet":
        if (mine) this.you.style = e.style;
        break;
      case "PlayerAttacked": {
        const [kind, target] = tagged(e.target);
        e.target = kind === "Player" ? { Player: uuidString(target) } : { Npc: target };
        if (kind === "Npc") {
          const n = this.npcs.get(target);
          if (n) n.hitpoints = Math.max(0, n.hitpoints - e.damage);
        } else {
          const p = this.#someone(uuidString(target));
          if (p) p.hitpoints = Math.max(0, p.hitpoints - e.damage);
        }
        break;
      }
      case "NpcAttacked": {
        const p = this.#someone(e.player_id);
        if (p) p.hitpoints = Math.max(0, p.hitpoints - e.damage);
        break;
      }
      case "PlayerDied": {
        const p = this.#someone(e.player_id);
        if (p) {
          p.x = e.x;
          p.y = e.y;
        }
        if (mine) {
          if ((e.dropped ?? []).length || (e.kept ?? []).length) {
            // Emptied; what was kept (outside PvP) comes back from the first slot.
            this.you.inventory = Array(SLOTS).fill(null);
            this.you.equipment = {};
            for (const k of e.kept ?? []) this.#add(k.item, k.qty);
          }
          this.you.hitpoints = this.#skill("hitpoints")?.level ?? this.you.hitpoints;
          this.you.prayers = [];
        } else if (p) {
          p.hitpoints = null; // back at full, whose level a viewer is not told
        }
        for (const g of e.dropped ?? []) this.ground.set(g.ground_id, ownerAsString(g));
        break;
      }
      case "PlayerHealed": {
        const p = this.#someone(e.player_id);
        if (p && p.hitpoints != null) p.hitpoints += e.amount;
        break;
      }
      case "PrayerActivated":
        if (mine && !this.you.prayers.includes(e.prayer)) this.you.prayers.push(e.prayer);
        break;
      case "PrayerDeactivated":
        if (mine) this.you.prayers = this.you.prayers.filter((p) => p !== e.prayer);
        break;
      case "PrayerDrained":
        if (mine) this.you.prayer_points = Math.max(0, this.you.prayer_points - e.points);
        break;
      case "PrayerRestored":
        if (mine) this.you.prayer_points += e.points;
        break;
      case "TradeRequested":
        if (e.with === me) this.tradeRequests.add(e.player_id);
        break;
      case "TradeOpened":
        if (mine || e.with === me) {
          const other = mine ? e.with : e.player_id;
          this.trade = { with: other, stage: "offer", mine: [], theirs: [], accepted: false, theyAccepted: false };
          this.tradeRequests.delete(other);
        }
        break;
      case "TradeOffered":
        if (this.trade && (mine || e.player_id === this.trade.with)) {
          const list = mine ? this.trade.mine : this.trade.theirs;
          const o = list.find((o) => o.item === e.item);
          if (o) o.qty += e.qty;
          else list.push({ item: e.item, qty: e.qty });
          this.trade.accepted = false;
          this.trade.theyAccepted = false;
        }
        break;
      case "TradeAccepted":
        // A TickUpdate sends the viewer's own and personal events first, then the others'
        // nearest first: the other side's acceptance of the offer screen can come after the
        // TradeConfirming it caused. An acceptance of the tick that opened the confirm screen
        // belongs to the offer screen.
        if (this.trade && this.trade.confirmedAt === this.tick) break;
        if (this.trade && mine) this.trade.accepted = true;
        if (this.trade && e.player_id === this.trade.with) this.trade.theyAccepted = true;
        break;
      case "TradeConfirming":
        if (this.trade && (mine || e.with === me)) {
          this.trade.confirmedAt = this.tick;
          this.trade.stage = "confirm";
          this.trade.accepted = false;
          this.trade.theyAccepted = false;
        }
        break;
      case "TradeSettled":
        if (mine || e.with === me) {
          const [out, inc] = mine ? [e.gave, e.got] : [e.got, e.gave];
          for (const o of out) this.#remove(o.item, o.qty);
          for (const o of inc) this.#add(o.item, o.qty);
          this.trade = null;
        }
        break;
      case "TradeCancelled":
        if (mine || e.with === me) this.trade = null;
        break;
      case "FriendAdded":
        if (mine && !this.you.friends.includes(e.friend)) this.you.friends.push(e.friend);
        // A friend in view is online (presence events come only when it changes).
        if (mine && this.players.has(e.friend)) this.presence.set(e.friend, true);
        break;
      case "FriendRemoved":
        if (mine) this.you.friends = this.you.friends.filter((f) => f !== e.friend);
        break;
      case "IgnoreAdded":
        if (mine && !this.you.ignores.includes(e.ignored)) this.you.ignores.push(e.ignored);
        break;
      case "IgnoreRemoved":
        if (mine) this.you.ignores = this.you.ignores.filter((f) => f !== e.ignored);
        break;
      case "PlayerPresence":
        this.presence.set(e.player_id, e.online);
        this.friendWorld.delete(e.player_id); // this world's own news
        break;
      default:
        break;
    }
    return e;
  }
}

/** Rejection codes whose command may be sent again with the same seq (not journaled). */
const RETRYABLE = new Set(["rate_limited", "server_busy"]);

/**
 * A connection to the game server that survives drops. Events (EventTarget):
 *   - `status` {state: "connecting"|"connected"|"disconnected"|"closed", reason, attempt}
 *   - `welcome` {player_id, tick, last_seq}
 *   - `snapshot` (the world was replaced), `tick` {tick, events: [[name, fields], …]}
 *   - `outcome` {seq, cmd, accepted, code, message, tick}
 *   - `error` {code, message} (the server's Error frame)
 */
export class Client extends EventTarget {
  constructor({ base = globalThis.location?.origin ?? "", codec = globalThis.MessagePack, account, content, WebSocketImpl = globalThis.WebSocket } = {}) {
    super();
    this.base = base;
    this.codec = codec;
    this.account = account;
    this.world = new World(content);
    this.WebSocketImpl = WebSocketImpl;
    this.ws = null;
    this.state = "closed";
    this.queue = []; // commands not yet answered, in seq order: {seq, cmd, resolve, retries}
    this.nextSeq = null; // known after the first Welcome
    this.inFlight = null; // the one command sent and not answered
    this.attempt = 0;
    this.stopped = false;
    this.timer = null;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #status(state, reason = "") {
    this.state = state;
    this.#emit("status", { state, reason, attempt: this.attempt });
  }

  #url() {
    const u = new URL("/v1/ws", this.base || globalThis.location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    return u.toString();
  }

  #send(frame) {
    if (this.ws?.readyState === 1) this.ws.send(this.codec.encode(frame));
  }

  /** Opens the connection (and keeps reopening it until `close()`). */
  connect() {
    this.stopped = false;
    clearTimeout(this.timer);
    this.#status("connecting");
    const ws = new this.WebSocketImpl(this.#url());
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let fatal = null;
    ws.onopen = () => {
      this.#send({ Hello: { protocol: PROTOCOL, token: this.account.tokens.access_token } });
    };
    ws.onmessage = (m) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = this.codec.decode(new Uint8Array(m.data));
      } catch (err) {
        console.warn("undecodable frame", err);
        return;
      }
      const [kind, f] = tagged(frame);
      switch (kind) {
        case "Welcome":
          this.attempt = 0;
          this.#welcome(f);
          break;
        case "Snapshot":
          this.world.snapshot(f);
          this.#emit("snapshot", f);
          if (this.state !== "connected") this.#ready();
          break;
        case "TickUpdate": {
          this.world.tick = f.tick;
          const events = f.events.map((e) => {
            const [name, fields] = tagged(e);
            return [name, this.world.apply(name, fields ?? {})];
          });
          this.#emit("tick", { tick: f.tick, events });
          break;
        }
        case "Accepted":
        case "Rejected":
          this.#outcome(kind === "Accepted", f);
          break;
        case "Social": {
          // A friend's presence, or a private message to this player, from another world.
          const [name, fields] = tagged(f.event);
          const e = fields ?? {};
          const w = this.world;
          if (name === "PlayerPresence") {
            if (e.online) {
              w.friendWorld.set(e.player_id, f.world);
              w.presence.set(e.player_id, true);
            } else if (w.friendWorld.get(e.player_id) === f.world) {
              // Offline there; a hop into this world since then came as this world's own
              // PlayerPresence, which forgot the other world.
              w.friendWorld.delete(e.player_id);
              w.presence.set(e.player_id, false);
            }
          }
          this.#emit("social", { world: f.world, name, event: e });
          break;
        }
        case "Broadcast":
          this.#emit("broadcast", f);
          break;
        case "Pong":
          break;
        case "Error":
          if (["unauthorized", "session_closed", "unsupported_protocol"].includes(f.code)) fatal = f.code;
          this.#emit("error", f);
          break;
        default:
          break;
      }
    };
    ws.onclose = async (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return this.#status("closed", "closed by the page");
      if (fatal === "unauthorized") {
        // The access token expired or the session ended: a refresh gives a new one. A refusal
        // (4xx) ends the session; a server fault or no answer is tried again after the delay.
        try {
          await this.account.refresh();
        } catch (err) {
          if (err.status >= 400 && err.status < 500) {
            return this.#status("closed", "the session ended: log in again (" + (err.code ?? err) + ")");
          }
        }
      } else if (fatal === "session_closed") {
        return this.#status("closed", "this account was opened elsewhere, or logged out");
      } else if (fatal) {
        return this.#status("closed", fatal);
      }
      this.attempt += 1;
      const delay = Math.min(5000, 250 * 2 ** Math.min(this.attempt, 5));
      this.#status("disconnected", `connection lost (code ${ev.code}); reconnecting in ${(delay / 1000).toFixed(1)} s`);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  #welcome(f) {
    f.player_id = uuidString(f.player_id);
    // Seqs continue after the last one the server decided, across reconnects and reloads.
    this.nextSeq = Math.max(this.nextSeq ?? 0, f.last_seq + 1);
    this.#emit("welcome", f);
  }

  // Commands wait for the Snapshot: the tick that carries it sends no TickUpdate, so what a
  // command decided in that tick said (a chat line, a message) would reach no one's page.
  #ready() {
    this.#status("connected");
    // The command in flight when the connection dropped goes again with its own seq: the server
    // answers a decided seq with its original outcome and applies nothing twice.
    this.inFlight = null;
    this.#pump();
  }

  #outcome(accepted, f) {
    const c = this.inFlight;
    if (!c || c.seq !== f.seq) return; // an answer to a command of an earlier page load
    if (!accepted && RETRYABLE.has(f.code) && c.retries < 5) {
      c.retries += 1;
      this.inFlight = null;
      this.timer = setTimeout(() => this.#pump(), 200 * c.retries);
      return;
    }
    this.queue.shift();
    this.inFlight = null;
    const outcome = { seq: f.seq, cmd: c.cmd, accepted, tick: f.tick, code: f.code ?? null, message: f.message ?? null };
    c.resolve(outcome);
    this.#emit("outcome", outcome);
    this.#pump();
  }

  #pump() {
    if (this.inFlight || this.state !== "connected" || !this.queue.length) return;
    const c = this.queue[0];
    if (c.seq == null) c.seq = this.nextSeq++;
    this.inFlight = c;
    this.#send({ Command: { seq: c.seq, cmd: c.cmd } });
  }

  /**
   * Sends a command (`{"WalkTo": {x, y, run}}`, `"TradeAccept"`, …); resolves with its outcome.
   * Player ids in commands must be 16 bytes: pass `uuidBytes(id)`.
   */
  send(cmd) {
    return new Promise((resolve) => {
      this.queue.push({ seq: null, cmd, resolve, retries: 0 });
      this.#pump();
    });
  }

  /** Closes for good (no reconnect). */
  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close(1000);
  }

  /** Drops the connection as a network fault would (tests and the page's debug button). */
  drop() {
    this.ws?.close(4000, "dropped by the client");
  }
}
