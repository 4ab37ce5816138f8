//! Which other players, NPCs and ground items each viewer is shown, kept from tick to tick.

use loh_world::{World, chebyshev};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// The players of one chunk, with their tiles.
type Residents = Vec<(Uuid, i32, i32)>;

/// The online players by chunk of the view distance, built once per tick, and the players
/// around each tile a viewer stands on, nearest first: computed once per tile and tick, shared
/// by everyone on it (a crowd on one tile costs one sort).
#[derive(Debug, Default)]
pub struct PlayerGrid {
    chunks: HashMap<(i32, i32), Residents, FastHash>,
    /// Each online player's tile.
    tiles: HashMap<Uuid, (i32, i32), FastHash>,
    around: std::cell::RefCell<HashMap<(i32, i32), Nearest, FastHash>>,
    /// Tiles where more than one online player stands: only theirs are worth caching.
    shared: HashSet<(i32, i32), FastHash>,
}

/// Players by distance then id, around one tile.
pub type Nearest = std::rc::Rc<[(u32, Uuid)]>;

const SIDE: i32 = loh_world::social::VIEW_DISTANCE as i32 + 1;

impl PlayerGrid {
    /// Every online player of `world`.
    pub fn new(world: &World) -> PlayerGrid {
        let mut grid = PlayerGrid::default();
        let mut occupied: HashSet<(i32, i32), FastHash> = HashSet::default();
        for (id, p) in world.players().filter(|(_, p)| p.online) {
            grid.tiles.insert(*id, (p.x, p.y));
            if !occupied.insert((p.x, p.y)) {
                grid.shared.insert((p.x, p.y));
            }
            grid.chunks
                .entry((p.x.div_euclid(SIDE), p.y.div_euclid(SIDE)))
                .or_default()
                .push((*id, p.x, p.y));
        }
        grid
    }

    /// Whether more than one online player stands on `(x, y)`.
    pub fn shared(&self, x: i32, y: i32) -> bool {
        self.shared.contains(&(x, y))
    }

    /// An online player's tile.
    pub fn tile(&self, player: &Uuid) -> Option<(i32, i32)> {
        self.tiles.get(player).copied()
    }

    /// The online players within the view distance of `(x, y)` (the viewer among them),
    /// nearest first (ties by id).
    pub fn near(&self, x: i32, y: i32) -> Nearest {
        if let Some(list) = self.around.borrow().get(&(x, y)) {
            return list.clone();
        }
        let (cx, cy) = (x.div_euclid(SIDE), y.div_euclid(SIDE));
        // The nine chunks around, each looked up once.
        let chunks: [Option<&Residents>; 9] = std::array::from_fn(|k| {
            let (dx, dy) = (k as i32 / 3 - 1, k as i32 % 3 - 1);
            self.chunks.get(&(cx + dx, cy + dy))
        });
        // Sized once for everyone in them: in a crowd that is thousands, and a list grown by
        // doubling would allocate twice that each time (a tick asks for hundreds).
        let mut out = Vec::with_capacity(chunks.iter().flatten().map(|c| c.len()).sum());
        for &(id, px, py) in chunks.iter().flatten().flat_map(|c| c.iter()) {
            let d = chebyshev(x, y, px, py);
            if d <= loh_world::social::VIEW_DISTANCE {
                out.push((d, id));
            }
        }
        out.sort_unstable();
        let list: Nearest = out.into();
        if self.shared.contains(&(x, y)) {
            self.around.borrow_mut().insert((x, y), list.clone());
        }
        list
    }
}

/// Hashing for the fan-out's sets and maps of player ids and tiles: their bytes folded into
/// one word from a seed chosen at random once per process, no SipHash. Player ids are chosen by
/// the server, and tiles are bounded by the map and by walking, so nobody floods a bucket.
#[derive(Debug, Clone, Copy)]
pub struct FastHash(u64);

impl Default for FastHash {
    fn default() -> FastHash {
        static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        FastHash(*SEED.get_or_init(|| {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(0x10_u64)
        }))
    }
}

impl std::hash::BuildHasher for FastHash {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(self.0)
    }
}

/// The hasher of [`FastHash`].
#[derive(Debug, Clone, Copy)]
pub struct FoldHasher(u64);

impl std::hash::Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

/// Most places a viewer's player set grows back by in one tick after the byte budget shrank it.
const REGROW_PER_TICK: usize = 8;

/// The share of the byte budget the player set grows back into (3/4): the rest is room for a
/// busier tick, so that the set does not swing between evicting and re-adding the same players
/// (each swing costs a `PlayerDisappeared` and a `PlayerAppeared`).
const GROW_INTO: (usize, usize) = (3, 4);

/// After an eviction the set's cap drops to this share (7/8) of the players left, for the same
/// reason.
const SHRINK_TO: (usize, usize) = (7, 8);

/// What one viewer is shown, kept across ticks: the other players (bounded), the NPCs and the
/// ground items in view, and whether the join snapshot went out.
#[derive(Debug, Default, Clone)]
pub struct Interest {
    /// Shared with the copy a tick's frame is assembled against (the tick writer keeps the
    /// interest the viewer had until the frame is sent): copied only when it changes, which a
    /// settled crowd's set does not do from tick to tick.
    players: Arc<HashSet<Uuid, FastHash>>,
    /// Most other players shown now: the byte budget shrinks it, and it grows back while the
    /// frames have room. `None` until the first tick.
    cap: Option<usize>,
    /// Places the cap grows by at the next tick ([`Interest::settle`]).
    grow: usize,
    /// Ascending.
    npcs: Vec<u32>,
    /// Ascending.
    ground: Vec<u64>,
    joined: bool,
}

impl Interest {
    /// Drops the players who left the view (or the world), then fills free places nearest
    /// first. Returns who entered and who left. A full set that lost nobody costs one check per
    /// member.
    pub fn update(
        &mut self,
        grid: &PlayerGrid,
        viewer: Uuid,
        at: (i32, i32),
        limits: super::ViewLimits,
    ) -> (Vec<Uuid>, Vec<Uuid>) {
        let max_players = limits.max_players;
        // At first, as many players as the budget holds at a guess of 64 bytes each a tick.
        let cap = self
            .cap
            .map_or(max_players.min(limits.max_bytes / 64), |c| {
                (c + self.grow).min(max_players)
            });
        self.cap = Some(cap);
        let mut left: Vec<Uuid> = self
            .players
            .iter()
            .filter(|id| {
                !grid.tiles.get(*id).is_some_and(|&(x, y)| {
                    chebyshev(at.0, at.1, x, y) <= loh_world::social::VIEW_DISTANCE
                })
            })
            .copied()
            .collect();
        if !left.is_empty() {
            let players = Arc::make_mut(&mut self.players);
            for id in &left {
                players.remove(id);
            }
        }
        left.sort_unstable();
        let mut entered = Vec::new();
        let room = cap.saturating_sub(self.players.len());
        if room > 0 {
            for &(_, id) in grid.near(at.0, at.1).iter() {
                if entered.len() >= room {
                    break;
                }
                if id != viewer && !self.players.contains(&id) {
                    entered.push(id);
                }
            }
            if !entered.is_empty() {
                Arc::make_mut(&mut self.players).extend(entered.iter().copied());
            }
        }
        (entered, left)
    }

    /// After a tick's frame: takes `evicted` out (the byte budget could not carry their
    /// events) and the set shrinks to what is left; else it may grow at the next tick by as
    /// many players as fit, at this tick's bytes per player shown, into 3/4 of the budget
    /// (`used` of `max_bytes` went out; `others` of it about the `shown` other players).
    pub fn settle(
        &mut self,
        evicted: &[Uuid],
        used: usize,
        max_bytes: usize,
        others: usize,
        shown: usize,
    ) {
        if !evicted.is_empty() {
            let players = Arc::make_mut(&mut self.players);
            for p in evicted {
                players.remove(p);
            }
            self.cap = Some(self.players.len() * SHRINK_TO.0 / SHRINK_TO.1);
            self.grow = 0;
            return;
        }
        let target = max_bytes * GROW_INTO.0 / GROW_INTO.1;
        // A player nobody has seen do anything yet is guessed at 64 bytes a tick.
        let each = others.checked_div(shown).map_or(64, |b| b.max(1));
        self.grow = (target.saturating_sub(used) / each).min(REGROW_PER_TICK);
    }

    /// How many other players are shown.
    pub fn shown(&self) -> usize {
        self.players.len()
    }

    /// Whether `player` is in the viewer's interest.
    pub fn contains(&self, player: &Uuid) -> bool {
        self.players.contains(player)
    }

    /// The other players shown, by id.
    pub fn players(&self) -> Vec<Uuid> {
        let mut out: Vec<Uuid> = self.players.iter().copied().collect();
        out.sort_unstable();
        out
    }

    /// Whether the join snapshot was sent; marks it sent.
    pub fn join(&mut self) -> bool {
        std::mem::replace(&mut self.joined, true)
    }

    /// The other players shown, nearest to `at` first (ties by id), with their distance.
    pub fn by_distance(&self, grid: &PlayerGrid, at: (i32, i32), out: &mut Vec<(u32, Uuid)>) {
        out.clear();
        out.extend(self.players.iter().filter_map(|id| {
            grid.tile(id)
                .map(|(x, y)| (chebyshev(at.0, at.1, x, y), *id))
        }));
        out.sort_unstable();
    }

    /// Replaces the NPCs in view with `now` (ascending); returns those that came and went.
    pub fn npcs_now(&mut self, now: &[u32]) -> (Vec<u32>, Vec<u32>) {
        diff(&mut self.npcs, now)
    }

    /// Replaces the ground items in view with `now` (ascending); returns those that came and
    /// went.
    pub fn ground_now(&mut self, now: &[u64]) -> (Vec<u64>, Vec<u64>) {
        diff(&mut self.ground, now)
    }
}

/// What came into (`now` but not `shown`) and went out of (`shown` but not `now`) two
/// ascending lists; `shown` becomes `now`. Equal lists cost one comparison and no allocation.
fn diff<T: Ord + Copy>(shown: &mut Vec<T>, now: &[T]) -> (Vec<T>, Vec<T>) {
    if shown[..] == *now {
        return (Vec::new(), Vec::new());
    }
    let (mut came, mut went) = (Vec::new(), Vec::new());
    let (mut a, mut b) = (0, 0);
    while a < shown.len() || b < now.len() {
        match (shown.get(a), now.get(b)) {
            (Some(x), Some(y)) if x == y => {
                a += 1;
                b += 1;
            }
            (Some(x), Some(y)) if x < y => {
                went.push(*x);
                a += 1;
            }
            (Some(x), None) => {
                went.push(*x);
                a += 1;
            }
            (_, Some(y)) => {
                came.push(*y);
                b += 1;
            }
            (None, None) => unreachable!("the loop stops when both are done"),
        }
    }
    shown.clear();
    shown.extend_from_slice(now);
    (came, went)
}
