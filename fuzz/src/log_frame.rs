//! Target `log_frame`: the embedded log's frame decoder
//! ([`tailor_log::embedded::frame`]), over bytes as a segment file holds them.
//!
//! Input: a flags byte, then the bytes. Flag bit 0 rewrites the checksum of every frame
//! whose length field fits ([`fix_checksums`]), so that mutations reach the payload
//! decoder instead of stopping at the CRC. The bytes are also decoded as one bare payload.
//!
//! Properties: no panic; frames decode one after the other as recovery reads them, each
//! within the bytes given; every decoded frame fits the format ([`framed_len`]) and encodes
//! back to exactly the bytes it was decoded from (the format has one encoding per record).

use bytes::Bytes;
use tailor_log::embedded::frame::{
    decode_frame, decode_payload, encode_frame, framed_len, payload_offset, Decoded, FRAME_HEADER,
    MAX_PAYLOAD, MIN_PAYLOAD,
};
use tailor_log::Record;

pub fn run(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut buf = rest.to_vec();
    if flags & 1 == 1 {
        fix_checksums(&mut buf);
    }
    let buf = Bytes::from(buf);
    let mut at = 0;
    while at < buf.len() {
        match decode_frame(&buf.slice(at..)) {
            Ok((decoded, len)) => {
                assert!(len >= FRAME_HEADER + MIN_PAYLOAD && len <= buf.len() - at);
                round_trip(&decoded, &buf[at..at + len]);
                at += len;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                break;
            }
        }
    }
    let payload = Bytes::copy_from_slice(rest);
    if let Ok(decoded) = decode_payload(&payload) {
        let mut framed = Vec::new();
        encode_frame(&mut framed, decoded.offset, &record(&decoded));
        assert_eq!(
            &framed[FRAME_HEADER..],
            rest,
            "payload re-encodes differently"
        );
    }
}

fn record(d: &Decoded) -> Record {
    Record {
        key: d.key.clone(),
        value: d.value.clone(),
        timestamp_ms: d.timestamp_ms,
        headers: d.headers.clone(),
    }
}

fn round_trip(decoded: &Decoded, frame: &[u8]) {
    let record = record(decoded);
    let len = framed_len(&record).expect("a decoded record fits the format");
    assert_eq!(len, frame.len());
    let mut out = Vec::with_capacity(len);
    encode_frame(&mut out, decoded.offset, &record);
    assert_eq!(out, frame, "decode then encode changes a frame");
    assert_eq!(payload_offset(&frame[FRAME_HEADER..]), Some(decoded.offset));
}

/// Sets the checksum of each frame, from the start, whose length field is possible and
/// whose payload is all there; stops at the first other.
pub fn fix_checksums(buf: &mut [u8]) {
    let mut at = 0usize;
    while at + FRAME_HEADER <= buf.len() {
        let len = u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
        let end = at + FRAME_HEADER + len;
        if !(MIN_PAYLOAD..=MAX_PAYLOAD).contains(&len) || end > buf.len() {
            break;
        }
        let crc = crc32c::crc32c(&buf[at + FRAME_HEADER..end]);
        buf[at + 4..at + FRAME_HEADER].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
}
