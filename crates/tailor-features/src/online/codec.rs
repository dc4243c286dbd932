//! The binary form of a feature row that networked online stores keep (no I/O here).
//!
//! JSON would lose what the in-memory store keeps: NaN and infinite floats (JSON has none),
//! the last bit of some floats (serde_json parses them best-effort) and repeated map keys. So
//! rows are stored in this small exact format instead; the entity and id are not repeated in
//! it, the store's key names them.
//!
//! ```text
//! byte 0       format version (FORMAT)
//! bytes 1..9   as_of_ms as u64 with the sign bit flipped, big-endian: comparing these
//!              bytes in order compares the times, which a store's script does without
//!              decoding the rest (every format keeps them here)
//! then         value count (varint), then per value: name (string), value
//! string       length (varint), UTF-8 bytes
//! value        tag byte: 0 null, 1 int (zigzag varint), 2 float (8 bytes, IEEE 754 bits,
//!              little-endian), 3 string, 4 list (count, values), 5 map (count, string/value
//!              pairs)
//! ```

use crate::engine::{FeatureRow, FeatureValue};

/// The format version written (byte 0).
pub(crate) const FORMAT: u8 = 1;

/// Nesting deeper than this is refused when decoding (rows nest two levels at most), so a
/// corrupt value cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

const NULL: u8 = 0;
const INT: u8 = 1;
const FLOAT: u8 = 2;
const STR: u8 = 3;
const LIST: u8 = 4;
const MAP: u8 = 5;

/// Appends the encoding of `row` (without its entity and id) to `out`.
pub(crate) fn encode(row: &FeatureRow, out: &mut Vec<u8>) {
    out.push(FORMAT);
    out.extend_from_slice(&((row.as_of_ms as u64) ^ (1 << 63)).to_be_bytes());
    put_len(out, row.values.len());
    for (name, value) in &row.values {
        put_str(out, name);
        put_value(out, value);
    }
}

/// Decodes what [`encode`] wrote for the row of `entity`/`id`; the reason if it is not such
/// a value.
pub(crate) fn decode(entity: &str, id: &str, bytes: &[u8]) -> Result<FeatureRow, String> {
    let mut r = Reader { bytes, pos: 0 };
    let format = r.byte()?;
    if format != FORMAT {
        return Err(format!(
            "format version {format}, this build reads version {FORMAT}"
        ));
    }
    let biased = u64::from_be_bytes(r.array()?);
    let count = r.len()?;
    let mut values = Vec::with_capacity(count);
    for _ in 0..count {
        values.push((r.string()?, r.value(0)?));
    }
    if r.pos != bytes.len() {
        return Err(format!("{} bytes left over", bytes.len() - r.pos));
    }
    Ok(FeatureRow {
        entity: entity.to_owned(),
        id: id.to_owned(),
        as_of_ms: (biased ^ (1 << 63)) as i64,
        values,
    })
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    put_varint(out, n as u64);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &FeatureValue) {
    match v {
        FeatureValue::Null => out.push(NULL),
        FeatureValue::Int(i) => {
            out.push(INT);
            put_varint(out, ((i << 1) ^ (i >> 63)) as u64);
        }
        FeatureValue::Float(x) => {
            out.push(FLOAT);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        FeatureValue::Str(s) => {
            out.push(STR);
            put_str(out, s);
        }
        FeatureValue::List(items) => {
            out.push(LIST);
            put_len(out, items.len());
            for item in items {
                put_value(out, item);
            }
        }
        FeatureValue::Map(entries) => {
            out.push(MAP);
            put_len(out, entries.len());
            for (k, v) in entries {
                put_str(out, k);
                put_value(out, v);
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let taken = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(format!("varint too long at byte {}", self.pos))
    }

    /// A count or length; never more than the bytes left (each item takes one at least), so
    /// a corrupt count cannot make a huge allocation.
    fn len(&mut self) -> Result<usize, String> {
        let n = self.varint()?;
        let left = self.bytes.len() - self.pos;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= left)
            .ok_or_else(|| format!("length {n} exceeds the {left} bytes left"))
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.len()?;
        let at = self.pos;
        String::from_utf8(self.take(n)?.to_vec())
            .map_err(|_| format!("string at byte {at} is not UTF-8"))
    }

    fn value(&mut self, depth: usize) -> Result<FeatureValue, String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nested deeper than {MAX_DEPTH}"));
        }
        let at = self.pos;
        Ok(match self.byte()? {
            NULL => FeatureValue::Null,
            INT => {
                let z = self.varint()?;
                FeatureValue::Int(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            FLOAT => FeatureValue::Float(f64::from_bits(u64::from_le_bytes(self.array()?))),
            STR => FeatureValue::Str(self.string()?),
            LIST => {
                let n = self.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                FeatureValue::List(items)
            }
            MAP => {
                let n = self.len()?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push((self.string()?, self.value(depth + 1)?));
                }
                FeatureValue::Map(entries)
            }
            tag => return Err(format!("unknown value tag {tag} at byte {at}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(as_of_ms: i64, values: Vec<(String, FeatureValue)>) -> FeatureRow {
        FeatureRow {
            entity: "user".into(),
            id: "u1".into(),
            as_of_ms,
            values,
        }
    }

    fn encoded(r: &FeatureRow) -> Vec<u8> {
        let mut out = Vec::new();
        encode(r, &mut out);
        out
    }

    #[test]
    fn round_trips_every_value_exactly() {
        let floats = [
            0.0,
            -0.0,
            0.1 + 0.2,
            f64::MIN_POSITIVE / 3.0,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from_bits(0x7ff8_dead_beef_0001),
        ];
        let mut values: Vec<(String, FeatureValue)> = floats
            .iter()
            .map(|&x| ("x".to_owned(), FeatureValue::Float(x)))
            .collect();
        values.extend([
            ("n".into(), FeatureValue::Null),
            ("i".into(), FeatureValue::Int(i64::MIN)),
            ("i".into(), FeatureValue::Int(i64::MAX)),
            ("i".into(), FeatureValue::Int(-1)),
            ("s".into(), FeatureValue::Str("a:b\"\0é🙂".into())),
            (
                "l".into(),
                FeatureValue::List(vec![FeatureValue::List(vec![]), FeatureValue::Null]),
            ),
            (
                "m".into(),
                FeatureValue::Map(vec![
                    ("k".into(), FeatureValue::Int(1)),
                    ("k".into(), FeatureValue::Float(2.5)),
                ]),
            ),
        ]);
        let r = row(-5, values);
        let back = decode("user", "u1", &encoded(&r)).expect("decode");
        assert_eq!(format!("{back:?}"), format!("{r:?}"));
        for ((_, a), (_, b)) in r.values.iter().zip(&back.values) {
            if let (FeatureValue::Float(a), FeatureValue::Float(b)) = (a, b) {
                assert_eq!(a.to_bits(), b.to_bits());
            }
        }
    }

    #[test]
    fn as_of_bytes_order_as_the_times() {
        let times = [i64::MIN, -1_000, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        for pair in times.windows(2) {
            let (a, b) = (
                encoded(&row(pair[0], vec![])),
                encoded(&row(pair[1], vec![])),
            );
            assert!(a[1..9] < b[1..9], "{pair:?}");
        }
    }

    #[test]
    fn corrupt_values_are_refused_not_panicked_on() {
        let good = encoded(&row(
            7,
            vec![(
                "l".into(),
                FeatureValue::List(vec![FeatureValue::Str("P1".into())]),
            )],
        ));
        for cut in 0..good.len() {
            assert!(decode("u", "1", &good[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(decode("u", "1", &extra).is_err());
        let mut huge_count = good[..9].to_vec();
        huge_count.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode("u", "1", &huge_count).is_err());
        let mut deep = good[..9].to_vec();
        deep.extend_from_slice(&[1, 1, b'd']);
        deep.extend(std::iter::repeat_n([LIST, 1], 100).flatten());
        assert!(decode("u", "1", &deep)
            .expect_err("deep")
            .contains("nested"));
        assert!(decode("u", "1", b"{\"as_of_ms\":1}").is_err());
    }
}
