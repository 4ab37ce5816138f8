#!/usr/bin/env python3
"""Makes the replay fixture loh/tests/fixtures/embedded-v1: an embedded data folder (loh.db and
signing-key.pem) written by a given `loh` binary while a few scripted players play.

Needs Python 3.11 and: pip install websockets msgpack requests

Usage:
    scripts/make-replay-fixture.py [LOH_BIN] [OUT_DIR]
    LOH_BIN=/tmp/loh-before scripts/make-replay-fixture.py

LOH_BIN defaults to target/debug/loh; OUT_DIR to loh/tests/fixtures/embedded-v1 (its loh.db and
signing-key.pem are replaced).

It starts `loh up` on a fresh temporary data folder and free loopback ports with --tick-ms 100,
registers four players and has them play about 300 ticks: walking and path-walking, chat, dropping
and picking up items, bank deposit and withdraw, buying and equipping, woodcutting, fighting a
chicken, friends, a private message, a trade, a few commands the rules reject (a 3-tile run, empty
chat, an unknown ground item), a resent seq, and one player disconnecting and reconnecting. Then it
stops the server with SIGINT (graceful), checkpoints the database and copies the two files.

The world is deterministic given the journal, but this script is not byte-reproducible (wall-clock
timestamps, event ids, the RSA key, which tick a command lands in). Regenerating the fixture changes
the counts the test in loh/tests/e2e/fixture.rs pins; update them from this script's summary.
"""

import asyncio
import collections
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import msgpack
import requests
from websockets.asyncio.client import connect as ws_connect

REPO = Path(__file__).resolve().parent.parent
TARGET_TICKS = 300
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def enc(frame) -> bytes:
    return msgpack.packb(frame, use_bin_type=True)


def dec(data: bytes):
    return msgpack.unpackb(data, raw=False)


class Stats:
    accepted = collections.Counter()
    rejected = collections.Counter()
    ticks_seen = 0


def uid(player_id: str) -> bytes:
    """A player id inside a command. The server decodes command UUIDs with serde's compact form,
    a 16-byte MessagePack bin (what the Rust client's encoder writes); a UUID string is refused
    with bad_frame. Ids in server frames and events are strings."""
    return uuid.UUID(player_id).bytes


def cmd_name(cmd) -> str:
    return cmd if isinstance(cmd, str) else next(iter(cmd))


class Player:
    def __init__(self, name: str, game: str):
        self.name = name
        self.game = game
        self.player_id = None
        self.token = None
        self.ws = None
        self.seq = 0
        self.pending: dict[int, asyncio.Future] = {}
        self.pos = None
        self.spawned = asyncio.Event()
        self.tick = 0
        self.tick_changed = asyncio.Condition()
        self.ground = {}  # ground_id -> GroundItem visible to us
        self.npcs = {}  # npc -> (x, y)
        self.dead_npcs = set()
        self.gathered = 0
        self.gathering_stopped = asyncio.Event()
        self.reader = None

    def log(self, *args):
        print(f"[{self.name:8} t{self.tick:>4}]", *args, flush=True)

    def register_and_login(self):
        creds = {"username": self.name, "password": PASSWORD}
        r = requests.post(f"http://{self.game}/v1/auth/register", json=creds, timeout=10)
        assert r.status_code == 201, (r.status_code, r.text)
        self.player_id = r.json()["player_id"]
        r = requests.post(f"http://{self.game}/v1/auth/login", json=creds, timeout=10)
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        assert body["token_type"] == "Bearer"
        self.token = body["access_token"]

    async def connect(self):
        self.ws = await ws_connect(f"ws://{self.game}/v1/ws", max_size=None)
        await self.ws.send(enc({"Hello": {"protocol": 1, "token": self.token}}))
        welcome = dec(await asyncio.wait_for(self.ws.recv(), 10))
        assert "Welcome" in welcome, welcome
        w = welcome["Welcome"]
        assert w["player_id"] == self.player_id
        self.log("welcome", w)
        # seq strictly increases across reconnects: continue after the last decided one.
        assert w["last_seq"] == self.seq, (w["last_seq"], self.seq)
        self.tick = w["tick"]
        self.reader = asyncio.create_task(self.read())
        return w

    async def disconnect(self):
        await self.ws.close()
        if self.reader:
            await asyncio.gather(self.reader, return_exceptions=True)
        self.ws = None

    async def read(self):
        try:
            async for data in self.ws:
                frame = dec(data)
                (kind, body), = frame.items()
                if kind == "TickUpdate":
                    await self.on_tick(body)
                elif kind in ("Accepted", "Rejected"):
                    fut = self.pending.pop(body["seq"], None)
                    if fut and not fut.done():
                        fut.set_result((kind, body))
                elif kind == "Error":
                    self.log("ERROR frame", body)
        except Exception as e:  # closed
            if self.ws is not None:
                self.log("reader ended:", repr(e))

    async def on_tick(self, body):
        for ev in body["events"]:
            (name, e), = ev.items()
            mine = e.get("player_id") == self.player_id
            if name in ("PlayerSpawned",) and mine:
                self.pos = (e["x"], e["y"])
                self.spawned.set()
            elif name == "PlayerMoved" and mine:
                self.pos = (e["x"], e["y"])
            elif name == "PlayerDied" and mine:
                self.pos = (e["x"], e["y"])
            elif name == "ItemDropped" and mine:
                g = e["ground"]
                self.ground[g["ground_id"]] = g
            elif name == "GroundItemAppeared":
                self.ground[e["ground_id"]] = e
            elif name in ("ItemPickedUp", "GroundItemDespawned"):
                self.ground.pop(e["ground_id"], None)
            elif name in ("NpcSpawned", "NpcMoved"):
                self.npcs[e["npc"]] = (e["x"], e["y"])
                self.dead_npcs.discard(e["npc"])
            elif name == "NpcDied":
                self.npcs.pop(e["npc"], None)
                self.dead_npcs.add(e["npc"])
                for g in e["loot"]:
                    self.ground[g["ground_id"]] = g
            elif name == "ResourceGathered" and mine:
                self.gathered += 1
            elif name == "GatheringStopped" and mine:
                self.gathering_stopped.set()
        async with self.tick_changed:
            self.tick = body["tick"]
            Stats.ticks_seen = max(Stats.ticks_seen, self.tick)
            self.tick_changed.notify_all()

    async def wait_ticks(self, n: int):
        target = self.tick + n
        async with self.tick_changed:
            await asyncio.wait_for(self.tick_changed.wait_for(lambda: self.tick >= target), 60)

    async def send_seq(self, seq: int, cmd):
        fut = asyncio.get_running_loop().create_future()
        self.pending[seq] = fut
        await self.ws.send(enc({"Command": {"seq": seq, "cmd": cmd}}))
        kind, body = await asyncio.wait_for(fut, 15)
        return kind, body

    async def cmd(self, cmd, expect=None):
        """Sends the next seq; returns ("Accepted"|"Rejected", body)."""
        self.seq += 1
        kind, body = await self.send_seq(self.seq, cmd)
        n = cmd_name(cmd)
        if kind == "Accepted":
            Stats.accepted[n] += 1
            self.log("ok ", self.seq, n)
        else:
            Stats.rejected[f"{n}:{body['code']}"] += 1
            self.log("REJ", self.seq, n, body["code"], body["message"])
        if expect and kind != expect:
            self.log(f"  (expected {expect})")
        return kind, body

    async def walk_to(self, x: int, y: int, run=False, max_ticks=60):
        if self.pos == (x, y):
            return True
        await self.cmd({"WalkTo": {"x": x, "y": y, "run": run}})
        for _ in range(max_ticks):
            if self.pos == (x, y):
                return True
            await self.wait_ticks(1)
        self.log("did not arrive at", (x, y), "at", self.pos)
        return False

    async def pick_up_mine(self, item=None):
        for gid, g in list(self.ground.items()):
            if (item is None or g["item"] == item) and g.get("owner") in (None, self.player_id):
                if max(abs(g["x"] - self.pos[0]), abs(g["y"] - self.pos[1])) <= 1:
                    return await self.cmd({"PickUp": {"ground_id": gid}})
        return None


# Starter kit slots: 0 bronze_axe, 1 bronze_pickaxe, 2 small_fishing_net, 3 hammer, 4-5 bread,
# 6 coins (25).


async def arjuna(p: Player, shared):
    """Chat, a drop and pick-up, the bank, a trade with sahadeva."""
    await p.spawned.wait()
    await p.cmd({"Say": {"text": "namaste, Hastinapur"}})
    await p.cmd({"Move": {"x": p.pos[0] + 1, "y": p.pos[1], "run": False}})
    await p.cmd({"MoveItem": {"from": 3, "to": 10}})
    await p.cmd({"DropItem": {"slot": 10}})
    await p.wait_ticks(2)
    await p.pick_up_mine("hammer")
    await p.cmd({"PickUp": {"ground_id": 999999}}, expect="Rejected")  # no_such_item
    await p.cmd({"Say": {"text": ""}}, expect="Rejected")  # bad_text
    # The bank at (3227, 3226): stand south of it.
    await p.walk_to(3227, 3225)
    await p.cmd({"BankDeposit": {"slot": 6, "qty": 10}})
    await p.cmd({"BankDeposit": {"slot": 2, "qty": 0}})
    await p.cmd({"BankWithdraw": {"item": "coins", "qty": 4}})
    await p.cmd({"BankWithdraw": {"item": "small_fishing_net", "qty": 1}})
    await p.cmd({"BankWithdraw": {"item": "logs", "qty": 1}}, expect="Rejected")  # not_in_bank
    await p.cmd({"Equip": {"slot": 0}})  # the bronze axe, as a weapon
    await p.cmd({"Unequip": {"equip_slot": "weapon"}})
    # Meet sahadeva for a trade.
    await p.walk_to(3224, 3222)
    shared["arjuna_ready"].set()
    await shared["sahadeva_ready"].wait()
    await p.cmd({"AddFriend": {"player_id": uid(shared["sahadeva"])}})
    await shared["trade_requested"].wait()
    await p.cmd({"TradeRequest": {"player_id": uid(shared["sahadeva"])}})  # opens it
    await p.cmd({"TradeOffer": {"slot": 4, "qty": 0}})  # a bread
    shared["arjuna_offered"].set()
    await shared["sahadeva_offered"].wait()
    await p.cmd("TradeAccept")  # offer screen
    await shared["sahadeva_accepted1"].wait()
    await p.wait_ticks(1)
    await p.cmd("TradeAccept")  # confirm screen
    await p.wait_ticks(3)
    await p.cmd({"PrivateMessage": {"to": uid(shared["sahadeva"]), "text": "thanks for the coins"}})
    await p.cmd({"SetAttackStyle": {"style": "defensive"}})
    await p.cmd({"Eat": {"slot": 5}})
    await p.walk_to(3220, 3216)


async def bhima(p: Player, shared):
    """Buys and equips a shield, then fights the chicken and picks up its bones."""
    await p.spawned.wait()
    await p.cmd({"Say": {"text": "to the general store"}})
    await p.walk_to(3216, 3216)
    await p.cmd({"Buy": {"shop": "general_store", "item": "wooden_shield", "qty": 1}})
    await p.cmd({"Buy": {"shop": "general_store", "item": "bronze_axe", "qty": 1}},
                expect="Rejected")  # not_enough_coins (5 left)
    await p.cmd({"Sell": {"shop": "general_store", "slot": 3, "qty": 0}})  # the hammer
    await p.cmd({"Equip": {"slot": 7}})
    await p.cmd({"Equip": {"slot": 0}})
    await p.cmd({"SetAttackStyle": {"style": "aggressive"}})
    await p.walk_to(3208, 3208)
    chicken = 1  # npc ids are spawn-point indices: guard 0, chicken 1, goblins 2-4, ...
    for _ in range(4):
        kind, _ = await p.cmd({"AttackNpc": {"npc": chicken}})
        if kind == "Rejected":
            await p.wait_ticks(5)
            continue
        for _ in range(30):
            if chicken in p.dead_npcs:
                break
            await p.wait_ticks(1)
        if chicken in p.dead_npcs:
            break
    p.log("chicken dead:", chicken in p.dead_npcs, "ground:", p.ground)
    await p.wait_ticks(1)
    for _ in range(3):
        if await p.pick_up_mine() is None:
            break
    await p.cmd({"Say": {"text": "winner winner"}})
    await p.cmd({"AttackNpc": {"npc": 42}}, expect="Rejected")  # no_such_npc


async def nakula(p: Player, shared):
    """Woodcutting in the Kuru Forest, then drops a log."""
    await p.spawned.wait()
    await p.cmd({"Move": {"x": p.pos[0] + 3, "y": p.pos[1], "run": True}},
                expect="Rejected")  # too_far: 3 tiles in one tick
    await p.cmd({"Move": {"x": p.pos[0] + 2, "y": p.pos[1], "run": True}})
    await p.walk_to(3244, 3215, run=True)
    p.gathering_stopped.clear()
    await p.cmd({"Gather": {"x": 3245, "y": 3215}})
    for _ in range(40):
        if p.gathering_stopped.is_set() or p.gathered:
            break
        await p.wait_ticks(1)
    p.log("logs gathered:", p.gathered)
    await p.walk_to(3246, 3217)
    p.gathering_stopped.clear()
    await p.cmd({"Gather": {"x": 3247, "y": 3218}})
    for _ in range(40):
        if p.gathering_stopped.is_set() or p.gathered >= 2:
            break
        await p.wait_ticks(1)
    await p.cmd({"Gather": {"x": 3300, "y": 3300}}, expect="Rejected")
    await p.cmd({"DropItem": {"slot": 7}})
    await p.cmd({"Say": {"text": "timber!"}})
    await p.walk_to(3230, 3218)


async def sahadeva(p: Player, shared):
    """Friends, a disconnect and reconnect, a resent seq, and the trade with arjuna."""
    await p.spawned.wait()
    await p.cmd({"Say": {"text": "hello all"}})
    await p.cmd({"AddFriend": {"player_id": uid(shared["arjuna"])}})
    await p.cmd({"AddIgnore": {"player_id": uid(shared["nakula"])}})
    await p.cmd({"RemoveIgnore": {"player_id": uid(shared["nakula"])}})
    await p.cmd({"Move": {"x": p.pos[0], "y": p.pos[1] + 1}})
    # A resent seq: answered with its original outcome, applied once.
    kind, body = await p.send_seq(p.seq, {"Move": {"x": p.pos[0], "y": p.pos[1] + 1}})
    p.log("resent seq", p.seq, "->", kind, body)
    # Leave and come back (presence offline/online for arjuna's friend list).
    await p.disconnect()
    p.log("disconnected")
    await asyncio.sleep(1.5)
    await p.connect()
    p.log("reconnected")
    kind, body = await p.send_seq(p.seq, {"Say": {"text": "again"}})
    p.log("resent seq after reconnect", p.seq, "->", kind, body)
    await p.cmd({"Say": {"text": "back again"}})
    await p.walk_to(3225, 3222)
    shared["sahadeva_ready"].set()
    await shared["arjuna_ready"].wait()
    await p.cmd({"TradeRequest": {"player_id": uid(shared["arjuna"])}})
    shared["trade_requested"].set()
    await shared["arjuna_offered"].wait()
    await p.cmd({"TradeOffer": {"slot": 6, "qty": 5}})  # 5 coins
    shared["sahadeva_offered"].set()
    await p.wait_ticks(1)
    await p.cmd("TradeAccept")
    shared["sahadeva_accepted1"].set()
    await p.wait_ticks(1)
    await p.cmd("TradeAccept")
    await p.wait_ticks(3)
    await p.cmd({"PrivateMessage": {"to": uid(shared["arjuna"]), "text": "any time"}})
    await p.walk_to(3210, 3229)
    await p.cmd("PrayAtAltar", expect="Rejected")  # already_full
    await p.cmd({"Pray": {"prayer": "thick_skin", "on": True}})
    await p.wait_ticks(3)
    await p.cmd({"Pray": {"prayer": "thick_skin", "on": False}})


async def play(game: str):
    names = ["arjuna", "bhima", "nakula", "sahadeva"]
    players = {n: Player(n, game) for n in names}
    for p in players.values():
        p.register_and_login()
    shared = {n: p.player_id for n, p in players.items()}
    for k in ["arjuna_ready", "sahadeva_ready", "trade_requested", "arjuna_offered",
              "sahadeva_offered", "sahadeva_accepted1"]:
        shared[k] = asyncio.Event()
    for p in players.values():
        await p.connect()
    start = players["bhima"].tick
    scripts = {"arjuna": arjuna, "bhima": bhima, "nakula": nakula, "sahadeva": sahadeva}
    results = await asyncio.gather(
        *(asyncio.wait_for(scripts[n](players[n], shared), 120) for n in names),
        return_exceptions=True,
    )
    for n, r in zip(names, results):
        if isinstance(r, BaseException):
            print(f"!! {n}'s script ended early: {r!r}", flush=True)
    # Idle (TickUpdates keep coming) until about TARGET_TICKS ticks have run.
    watcher = players["bhima"]
    while watcher.tick < TARGET_TICKS:
        await watcher.wait_ticks(1)
    for p in players.values():
        await p.disconnect()
    return {n: p.seq for n, p in players.items()}, start, watcher.tick


def main():
    loh_bin = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
        "LOH_BIN", str(REPO / "target/debug/loh"))
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "loh/tests/fixtures/embedded-v1"
    work = Path(tempfile.mkdtemp(prefix="loh-fixture-"))
    data = work / "data"
    game, query = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "NATS_URL", "REDIS_URL", "LOH_JWT_KEY", "LOH_JWT_KEY_FILE",
                        "LOH_DATA_DIR", "LOH_TICK_MS", "LOH_SHARD")}
    env.setdefault("RUST_LOG", "warn")
    log = open(work / "server.log", "w")
    server = subprocess.Popen(
        [loh_bin, "up", "--data-dir", str(data), "--game-addr", game, "--query-addr", query,
         "--tick-ms", "100"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                if requests.get(f"http://{game}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None:
                sys.exit(f"loh up exited: see {work / 'server.log'}")
            asyncio.run(asyncio.sleep(0.05))
        else:
            sys.exit("loh up did not become healthy")
        seqs, start, end = asyncio.run(play(game))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            code = server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            sys.exit("loh up did not stop within 30 s of SIGINT")
    print(f"loh up exited with {code}; data folder: {sorted(p.name for p in data.iterdir())}")
    assert code == 0, f"unclean exit, see {work / 'server.log'}"

    # Fold any WAL into the database file so the fixture is just loh.db.
    con = sqlite3.connect(data / "loh.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    for extra in ("loh.db-wal", "loh.db-shm"):
        (data / extra).unlink(missing_ok=True)

    # Replace the files, keep the folder (its .gitignore un-ignores loh.db against the root *.db).
    out.mkdir(parents=True, exist_ok=True)
    for name in ("loh.db", "loh.db-wal", "loh.db-shm", "signing-key.pem"):
        (out / name).unlink(missing_ok=True)
    for name in ("loh.db", "signing-key.pem"):
        shutil.copy2(data / name, out / name)

    print("\nsummary")
    print(f"  players: {len(seqs)}, last seq per player: {seqs}")
    print(f"  ticks: about {end} (players connected at tick {start})")
    print(f"  accepted: {sum(Stats.accepted.values())} {dict(Stats.accepted)}")
    print(f"  rejected: {sum(Stats.rejected.values())} {dict(Stats.rejected)}")
    size = sum((out / n).stat().st_size for n in ("loh.db", "signing-key.pem"))
    print(f"  fixture: {out} ({size} bytes)")
    print(f"  scratch (server log): {work}")


if __name__ == "__main__":
    main()
