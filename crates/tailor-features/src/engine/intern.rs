//! Per-partition string interning (entity ids and string values share one table, so an
//! event's item id is hashed once whether it keys an item entity or fills a user's
//! last-items list), and a stable 64-bit hash for distinct counts.

use std::hash::BuildHasher;

use hashbrown::HashTable;

pub(crate) type Sym = u32;

/// FNV-1a over the bytes, finished with the murmur3 64-bit mixer. Stable across versions
/// and platforms: it is stored in checkpoints.
pub(crate) fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    fmix64(h)
}

/// Hash of a number value, distinct from any string's.
pub(crate) fn hash_num(bits: u64) -> u64 {
    fmix64(bits ^ 0x9e37_79b9_7f4a_7c15).rotate_left(17)
}

fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// Longest string stored inline in a [`Key`]; ids are usually shorter (UUIDs are 36).
const INLINE: usize = 38;

/// An interned string's bytes, inline when short: confirming a lookup reads the string's
/// entry itself instead of chasing a pointer to the heap (a cache miss per lookup).
#[derive(Clone)]
enum Key {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    fn new(s: &str) -> Key {
        let b = s.as_bytes();
        if b.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..b.len()].copy_from_slice(b);
            Key::Inline {
                len: b.len() as u8,
                buf,
            }
        } else {
            Key::Heap(b.into())
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..*len as usize],
            Key::Heap(b) => b,
        }
    }

    /// Keys are only made from `&str`, so this never falls back.
    fn as_str(&self) -> &str {
        std::str::from_utf8(self.bytes()).unwrap_or("")
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Key::Inline { .. } => 0,
            Key::Heap(b) => b.len(),
        }
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Key {}

/// The table's hash of a string.
fn table_hash(bytes: &[u8]) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(bytes)
}

/// 32 bits of a table hash that the table itself does not use (it takes the lowest bits
/// for the position and the highest 7 for its control bytes).
fn fingerprint(h: u64) -> u64 {
    (h >> 24) & 0xffff_ffff
}

/// The table hash of an entry's string.
fn rehash(strings: &[(Key, u64)], e: &u64) -> u64 {
    table_hash(
        strings
            .get(*e as u32 as usize)
            .map_or(&[][..], |k| k.0.bytes()),
    )
}

/// A table entry: fingerprint in the high half, symbol in the low half.
fn entry(fp: u64, sym: Sym) -> u64 {
    (fp << 32) | u64::from(sym)
}

#[derive(Debug, Default)]
pub(crate) struct Interner {
    /// By symbol: the string and its [`stable_hash`].
    strings: Vec<(Key, u64)>,
    /// Symbol by string, as (fingerprint, symbol) in 8 bytes: a few bytes per string, so
    /// the table stays in cache while the strings do not, and a probe reads one string
    /// (the one whose fingerprint matched).
    table: HashTable<u64>,
}

impl Interner {
    pub(crate) fn intern(&mut self, s: &str) -> Sym {
        let h = table_hash(s.as_bytes());
        if let Some(sym) = self.find(s, h) {
            return sym;
        }
        let sym = self.strings.len() as Sym;
        self.strings.push((Key::new(s), stable_hash(s.as_bytes())));
        let strings = &self.strings;
        self.table
            .insert_unique(h, entry(fingerprint(h), sym), |e| rehash(strings, e));
        sym
    }

    fn find(&self, s: &str, h: u64) -> Option<Sym> {
        let fp = fingerprint(h);
        self.table
            .find(h, |&e| e >> 32 == fp && self.is(e as Sym, s))
            .map(|&e| e as Sym)
    }

    pub(crate) fn get(&self, s: &str) -> Option<Sym> {
        self.find(s, table_hash(s.as_bytes()))
    }

    /// The symbol `s` has if it is interned, found by fingerprint only: reads the table
    /// and no string. Confirm with [`Interner::is`] before use (another string may share
    /// the fingerprint); split so that a batch of lookups can read their strings together.
    pub(crate) fn guess(&self, s: &str) -> Option<Sym> {
        let h = table_hash(s.as_bytes());
        let fp = fingerprint(h);
        self.table.find(h, |&e| e >> 32 == fp).map(|&e| e as Sym)
    }

    /// Whether `sym` is the string `s`.
    pub(crate) fn is(&self, sym: Sym, s: &str) -> bool {
        self.strings
            .get(sym as usize)
            .is_some_and(|k| k.0.bytes() == s.as_bytes())
    }

    pub(crate) fn resolve(&self, sym: Sym) -> &str {
        self.strings
            .get(sym as usize)
            .map_or("", |(k, _)| k.as_str())
    }

    pub(crate) fn hash_of(&self, sym: Sym) -> u64 {
        self.strings.get(sym as usize).map_or(0, |(_, h)| *h)
    }

    pub(crate) fn len(&self) -> usize {
        self.strings.len()
    }

    pub(crate) fn strings(&self) -> impl Iterator<Item = &str> {
        self.strings.iter().map(|(k, _)| k.as_str())
    }

    /// Rebuilds from [`Interner::strings`] output; refuses duplicates.
    pub(crate) fn from_strings(strings: Vec<String>) -> Result<Interner, String> {
        let mut out = Interner::default();
        for s in strings {
            let before = out.len();
            if out.intern(&s) as usize != before {
                return Err(format!("string {s:?} interned twice"));
            }
        }
        Ok(out)
    }

    /// Keeps the symbols marked live, renumbered densely in their previous order (so the
    /// order of symbols is preserved). Returns old symbol → new symbol (`Sym::MAX`: gone).
    pub(crate) fn compact(&mut self, live: &[bool]) -> Vec<Sym> {
        let mut remap = vec![Sym::MAX; self.strings.len()];
        let old = std::mem::take(&mut self.strings);
        self.table.clear();
        for (i, (s, h)) in old.into_iter().enumerate() {
            if live.get(i).copied().unwrap_or(false) {
                let sym = self.strings.len() as Sym;
                remap[i] = sym;
                self.strings.push((s, h));
            }
        }
        self.strings.shrink_to_fit();
        let strings = &self.strings;
        let rehash = |e: &u64| rehash(strings, e);
        self.table.shrink_to_fit(rehash);
        self.table.reserve(strings.len(), rehash);
        for (sym, (s, _)) in strings.iter().enumerate() {
            let h = table_hash(s.bytes());
            self.table
                .insert_unique(h, entry(fingerprint(h), sym as Sym), rehash);
        }
        remap
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        // Per string: the key with its hash, and a table entry with its control byte.
        self.strings.capacity() * std::mem::size_of::<(Key, u64)>()
            + self
                .strings
                .iter()
                .map(|(k, _)| k.heap_bytes())
                .sum::<usize>()
            + self.table.capacity() * (std::mem::size_of::<u64>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_and_compacts_in_order() {
        let mut i = Interner::default();
        let a = i.intern("a");
        let b = i.intern("b");
        let c = i.intern("c");
        assert_eq!((a, b, c, i.intern("b")), (0, 1, 2, 1));
        let remap = i.compact(&[true, false, true]);
        assert_eq!(remap, vec![0, Sym::MAX, 1]);
        assert_eq!(i.resolve(1), "c");
        assert_eq!(i.get("b"), None);
        assert_eq!(i.hash_of(1), stable_hash(b"c"));
        assert!(Interner::from_strings(vec!["x".into(), "x".into()]).is_err());
        let long = "a-user-id-much-longer-than-the-inline-capacity-of-keys";
        let l = i.intern(long);
        assert_eq!((i.resolve(l), i.get(long)), (long, Some(l)));
        assert_eq!(i.intern(long), l);
        let exact = "x".repeat(INLINE);
        let e = i.intern(&exact);
        assert_eq!(i.resolve(e), exact);
        assert_eq!(i.get(&"x".repeat(INLINE + 1)), None);
    }

    /// Many strings (the table grows and rehashes), a compaction, and lookups of strings
    /// that were never interned: every lookup path agrees.
    #[test]
    fn lookups_agree_through_growth_and_compaction() {
        let mut i = Interner::default();
        let ids: Vec<String> = (0..20_000).map(|n| format!("user-{n}")).collect();
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(i.intern(id) as usize, n);
        }
        for (n, id) in ids.iter().enumerate() {
            let sym = n as Sym;
            assert_eq!(i.get(id), Some(sym));
            assert_eq!(i.intern(id), sym);
            // A guess is a candidate: when it is confirmed, it is the symbol.
            if let Some(g) = i.guess(id).filter(|&g| i.is(g, id)) {
                assert_eq!(g, sym);
            }
            assert!(i.is(sym, id) && !i.is(sym, "user-x"));
        }
        for n in 20_000..25_000 {
            let absent = format!("user-{n}");
            assert_eq!(i.get(&absent), None);
            assert!(i.guess(&absent).is_none_or(|g| !i.is(g, &absent)));
        }
        let live: Vec<bool> = (0..ids.len()).map(|n| n % 3 == 0).collect();
        let remap = i.compact(&live);
        for (n, id) in ids.iter().enumerate() {
            let expect = (n % 3 == 0).then_some((n / 3) as Sym);
            assert_eq!(i.get(id), expect, "{id}");
            assert_eq!(remap[n], expect.unwrap_or(Sym::MAX));
        }
        assert_eq!(i.len(), ids.len().div_ceil(3));
        assert_eq!(i.intern("user-1"), i.len() as Sym - 1);
    }

    #[test]
    fn hash_is_stable() {
        // Stored in checkpoints: must never change.
        assert_eq!(stable_hash(b"P1"), stable_hash(b"P1"));
        assert_ne!(stable_hash(b"P1"), stable_hash(b"P2"));
        assert_eq!(stable_hash(b""), fmix64(0xcbf2_9ce4_8422_2325));
    }
}
