//! The frame format of segment files, its encoder and its decoder, which never panics on
//! arbitrary bytes (property-tested below).
//!
//! Frame = `u32 payload_len (LE) | u32 crc32c(payload) | payload`, payload =
//! `u8 version(=1) | u64 offset | i64 timestamp_ms | u32 key_len | key | u16 header_count |
//! (u16 name_len | name | u32 value_len | value)* | u32 value_len | value`, all little endian.

use bytes::Bytes;

use crate::{Error, Record, Result};

pub const FRAME_HEADER: usize = 8;
/// Smallest payload: version, offset, timestamp, key length, header count, value length.
pub const MIN_PAYLOAD: usize = 1 + 8 + 8 + 4 + 2 + 4;
/// Largest payload; a larger length field is corruption, a larger record is refused.
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;
/// The only payload version written.
pub const VERSION: u8 = 1;
/// Size of `record` once framed, after checking it fits the format.
pub fn framed_len(record: &Record) -> Result<usize> {
    if record.headers.len() > usize::from(u16::MAX) {
        return Err(Error::RecordTooLarge {
            size: record.headers.len(),
            max: usize::from(u16::MAX),
        });
    }
    let mut payload = MIN_PAYLOAD + record.key.len() + record.value.len();
    for (name, value) in &record.headers {
        if name.len() > usize::from(u16::MAX) {
            return Err(Error::RecordTooLarge {
                size: name.len(),
                max: usize::from(u16::MAX),
            });
        }
        payload += 2 + name.len() + 4 + value.len();
    }
    if payload > MAX_PAYLOAD {
        return Err(Error::RecordTooLarge {
            size: payload,
            max: MAX_PAYLOAD,
        });
    }
    Ok(FRAME_HEADER + payload)
}

/// Append one frame for `record` at `offset` to `buf`. The record must have passed
/// [`framed_len`]; lengths are then known to fit their fields.
pub fn encode_frame(buf: &mut Vec<u8>, offset: u64, record: &Record) {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; FRAME_HEADER]);
    buf.push(VERSION);
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&record.timestamp_ms.to_le_bytes());
    buf.extend_from_slice(&(record.key.len() as u32).to_le_bytes());
    buf.extend_from_slice(&record.key);
    buf.extend_from_slice(&(record.headers.len() as u16).to_le_bytes());
    for (name, value) in &record.headers {
        buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
        buf.extend_from_slice(name.as_bytes());
        buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
        buf.extend_from_slice(value);
    }
    buf.extend_from_slice(&(record.value.len() as u32).to_le_bytes());
    buf.extend_from_slice(&record.value);
    let payload_len = (buf.len() - start - FRAME_HEADER) as u32;
    let crc = crc32c::crc32c(&buf[start + FRAME_HEADER..]);
    buf[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    buf[start + 4..start + FRAME_HEADER].copy_from_slice(&crc.to_le_bytes());
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the header or the length field promise (a torn write).
    Torn,
    /// A length field that no valid frame has.
    BadLength(u64),
    /// The payload does not match its checksum.
    BadChecksum,
    /// The checksum matches but the payload's structure is wrong.
    Malformed(&'static str),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Torn => f.write_str("frame cut short (torn write)"),
            FrameError::BadLength(n) => write!(f, "impossible frame length {n}"),
            FrameError::BadChecksum => f.write_str("checksum mismatch"),
            FrameError::Malformed(what) => write!(f, "malformed payload: {what}"),
        }
    }
}

/// A decoded payload; key, value and header values share the buffer they were read into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: Bytes,
    pub value: Bytes,
    pub headers: Vec<(String, Bytes)>,
}

/// Parse a frame header, returning the payload length and checksum.
pub fn parse_header(h: &[u8]) -> Result<(usize, u32), FrameError> {
    let (Some(len), Some(crc)) = (read_u32(h, 0), read_u32(h, 4)) else {
        return Err(FrameError::Torn);
    };
    let len = len as usize;
    if !(MIN_PAYLOAD..=MAX_PAYLOAD).contains(&len) {
        return Err(FrameError::BadLength(len as u64));
    }
    Ok((len, crc))
}

/// Decode one frame at the start of `buf`, verifying its checksum. Returns the payload and
/// the frame's total length. Never panics, whatever the bytes.
pub fn decode_frame(buf: &Bytes) -> Result<(Decoded, usize), FrameError> {
    let (len, crc) = parse_header(buf)?;
    let end = FRAME_HEADER + len;
    if buf.len() < end {
        return Err(FrameError::Torn);
    }
    let payload = buf.slice(FRAME_HEADER..end);
    if crc32c::crc32c(&payload) != crc {
        return Err(FrameError::BadChecksum);
    }
    Ok((decode_payload(&payload)?, end))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Bounds-checked reader over a payload.
struct Cursor<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], FrameError> {
        let end = self.pos.checked_add(n).ok_or(FrameError::Malformed(what))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(FrameError::Malformed(what))?;
        self.pos = end;
        Ok(s)
    }
    fn bytes(&mut self, n: usize, what: &'static str) -> Result<Bytes, FrameError> {
        let start = self.pos;
        self.take(n, what)?;
        Ok(self.buf.slice(start..self.pos))
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, FrameError> {
        let s = self.take(2, what)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<usize, FrameError> {
        let s = self.take(4, what)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, FrameError> {
        let s = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
}

/// Decode a payload whose checksum was verified. Never panics.
pub fn decode_payload(payload: &Bytes) -> Result<Decoded, FrameError> {
    let mut c = Cursor {
        buf: payload,
        pos: 0,
    };
    if c.take(1, "version")?[0] != VERSION {
        return Err(FrameError::Malformed("unknown version"));
    }
    let offset = c.u64("offset")?;
    let timestamp_ms = c.u64("timestamp")? as i64;
    let key_len = c.u32("key length")?;
    let key = c.bytes(key_len, "key")?;
    let count = c.u16("header count")?;
    let mut headers = Vec::with_capacity(usize::from(count).min(payload.len() / 6));
    for _ in 0..count {
        let name_len = usize::from(c.u16("header name length")?);
        let name = std::str::from_utf8(c.take(name_len, "header name")?)
            .map_err(|_| FrameError::Malformed("header name is not UTF-8"))?
            .to_owned();
        let value_len = c.u32("header value length")?;
        headers.push((name, c.bytes(value_len, "header value")?));
    }
    let value_len = c.u32("value length")?;
    let value = c.bytes(value_len, "value")?;
    if c.pos != payload.len() {
        return Err(FrameError::Malformed("trailing bytes"));
    }
    Ok(Decoded {
        offset,
        timestamp_ms,
        key,
        value,
        headers,
    })
}

/// The offset field of a verified payload, without decoding the rest.
pub fn payload_offset(payload: &[u8]) -> Option<u64> {
    let s = payload.get(1..9)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(key: &[u8], value: &[u8], headers: &[(&str, &[u8])]) -> Record {
        Record {
            key: Bytes::copy_from_slice(key),
            value: Bytes::copy_from_slice(value),
            timestamp_ms: -42,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), Bytes::copy_from_slice(v)))
                .collect(),
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let r = record(b"user-1", b"{\"a\":1}", &[("h1", b"v1"), ("", b"")]);
        let mut buf = Vec::new();
        encode_frame(&mut buf, 7, &r);
        assert_eq!(buf.len(), framed_len(&r).expect("fits"));
        let (d, n) = decode_frame(&Bytes::from(buf)).expect("valid frame");
        assert_eq!(n, framed_len(&r).expect("fits"));
        assert_eq!((d.offset, d.timestamp_ms), (7, -42));
        assert_eq!((d.key, d.value, d.headers), (r.key, r.value, r.headers));
    }

    #[test]
    fn detects_damage() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, 1, &record(b"k", b"value", &[]));
        let good = Bytes::from(buf.clone());
        assert_eq!(
            decode_frame(&good.slice(..good.len() - 1)).err(),
            Some(FrameError::Torn)
        );
        assert_eq!(decode_frame(&good.slice(..3)).err(), Some(FrameError::Torn));
        let mut flipped = buf.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        assert_eq!(
            decode_frame(&Bytes::from(flipped)).err(),
            Some(FrameError::BadChecksum)
        );
        let mut huge = buf;
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode_frame(&Bytes::from(huge)),
            Err(FrameError::BadLength(_))
        ));
    }

    #[test]
    fn rejects_oversized_records() {
        let r = record(b"k", &vec![0u8; MAX_PAYLOAD], &[]);
        assert!(matches!(framed_len(&r), Err(Error::RecordTooLarge { .. })));
        let long_name = "n".repeat(70_000);
        let r = record(b"k", b"v", &[(long_name.as_str(), b"")]);
        assert!(matches!(framed_len(&r), Err(Error::RecordTooLarge { .. })));
    }

    fn valid_frames() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..16),
                proptest::collection::vec(any::<u8>(), 0..64),
                proptest::collection::vec(
                    ("[a-z]{0,4}", proptest::collection::vec(any::<u8>(), 0..8)),
                    0..3,
                ),
            ),
            1..4,
        )
        .prop_map(|recs| {
            let mut buf = Vec::new();
            for (i, (k, v, h)) in recs.into_iter().enumerate() {
                let headers = h.into_iter().map(|(n, v)| (n, Bytes::from(v))).collect();
                let r = Record {
                    key: k.into(),
                    value: v.into(),
                    timestamp_ms: i as i64,
                    headers,
                };
                encode_frame(&mut buf, i as u64, &r);
            }
            buf
        })
    }

    /// Decode a whole buffer frame by frame, as recovery does, stopping at the first error.
    fn decode_all(buf: &Bytes) -> usize {
        let mut at = 0;
        let mut n = 0;
        while at < buf.len() {
            match decode_frame(&buf.slice(at..)) {
                Ok((_, len)) => {
                    at += len;
                    n += 1;
                }
                Err(_) => break,
            }
        }
        let _ = decode_payload(buf);
        n
    }

    proptest! {
        #[test]
        fn decoder_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            decode_all(&Bytes::from(bytes));
        }

        #[test]
        fn decoder_never_panics_on_mutated_frames(
            frames in valid_frames(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let whole = frames.len();
            let mut bytes = frames;
            for (i, x) in &flips {
                let at = i.index(bytes.len());
                bytes[at] ^= x;
            }
            bytes.truncate(cut.index(whole + 1));
            decode_all(&Bytes::from(bytes));
        }

        #[test]
        fn payload_decoder_never_panics_on_checksummed_garbage(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
            // A frame whose checksum is right but whose payload is arbitrary.
            let mut buf = Vec::new();
            buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
            buf.extend_from_slice(&payload);
            let _ = decode_frame(&Bytes::from(buf));
        }

        #[test]
        fn valid_frames_decode(frames in valid_frames()) {
            let bytes = Bytes::from(frames);
            let mut at = 0;
            let mut expected = 0u64;
            while at < bytes.len() {
                let (d, len) = decode_frame(&bytes.slice(at..)).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(d.offset, expected);
                expected += 1;
                at += len;
            }
        }
    }
}
