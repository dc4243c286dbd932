//! Line-level parsing for `tailor import`: delimiters, quoted fields, times and numbers, and
//! the deterministic message ids of imported lines.

use anyhow::{bail, Result};

use super::mapping::TimeFormat;

/// Parses a `--delimiter` value: one character, or `tab` / `\t`.
pub fn parse_delimiter(s: &str) -> Result<char> {
    match s {
        "tab" | "\\t" | "\t" => Ok('\t'),
        _ => {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c != '"' && c != '\n' && c != '\r' => Ok(c),
                _ => {
                    bail!("--delimiter {s:?}: use one character (or `tab`), not a quote or newline")
                }
            }
        }
    }
}

/// Splits one delimited line into fields; `"quoted, fields"` with `""` escapes are
/// supported (fields spanning lines are not).
pub fn split_fields(line: &str, delimiter: char) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated quoted field".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(c) if c == delimiter => {}
                Some(c) => return Err(format!("{c:?} after a closing quote")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(c) if c == delimiter => break,
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

/// 64-bit FNV-1a: a hash that never changes between builds, for message ids.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The deterministic `messageId` of an imported line: file name, line number and a hash of
/// the line, so importing the same file again is de-duplicated.
pub fn message_id(source: &str, line: u64, raw: &str) -> String {
    format!("import:{source}:{line}:{:016x}", fnv1a(raw.as_bytes()))
}

/// Unix times outside 1990..2100 are refused: they are truncated values or the wrong unit.
const PLAUSIBLE_MS: std::ops::Range<i64> = 631_152_000_000..4_102_444_800_000;

pub(super) fn parse_time(v: &str, format: TimeFormat) -> Result<i64, String> {
    let ms = match format {
        TimeFormat::Rfc3339 => return tailor_event::time::parse_rfc3339_ms(v),
        TimeFormat::UnixSeconds => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite())
            .map(|s| (s * 1000.0).round() as i64)
            .ok_or_else(|| format!("{v:?} is not unix seconds"))?,
        TimeFormat::UnixMillis => v
            .parse::<i64>()
            .map_err(|_| format!("{v:?} is not unix milliseconds"))?,
    };
    if !PLAUSIBLE_MS.contains(&ms) {
        return Err(format!(
            "{v:?} is {}, outside 1990..2100: a truncated value or the wrong --time-format?",
            tailor_event::time::format_ms(ms)
        ));
    }
    Ok(ms)
}

pub(super) fn number(v: &str, what: &str) -> Result<f64, String> {
    v.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| format!("{what}: {v:?} is not a number"))
}
