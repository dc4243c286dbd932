//! Loaders for the public datasets (MovieLens 100K, YooChoose RSC15, Taobao UserBehavior) and
//! for interactions fed from the lake. Bad rows are errors naming the file and line.

use std::path::{Path, PathBuf};

use rustc_hash::FxHashSet;
use tailor_event::InteractionKind;

use super::{Interactions, InteractionsBuilder};
use crate::{Error, Result};

fn read(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    // u.item has Latin-1 titles; ids and numbers are ASCII either way.
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn bad(path: &Path, line: usize, reason: impl Into<String>) -> Error {
    Error::BadRow {
        path: path.to_owned(),
        line,
        reason: reason.into(),
    }
}

/// `dir/name` if `path` is a directory, else `path`.
fn file_in(path: &Path, name: &str) -> PathBuf {
    if path.is_dir() {
        path.join(name)
    } else {
        path.to_owned()
    }
}

/// Splits `line` on `sep` into exactly `n` fields.
fn fields<'a>(path: &Path, no: usize, line: &'a str, sep: char, n: usize) -> Result<Vec<&'a str>> {
    let f: Vec<&str> = line.split(sep).map(str::trim).collect();
    if f.len() != n {
        return Err(bad(
            path,
            no,
            format!(
                "expected {n} fields separated by {sep:?}, found {}",
                f.len()
            ),
        ));
    }
    if let Some(i) = f.iter().position(|s| s.is_empty()) {
        return Err(bad(path, no, format!("field {} is empty", i + 1)));
    }
    Ok(f)
}

fn int(path: &Path, no: usize, what: &str, s: &str) -> Result<i64> {
    s.parse()
        .map_err(|_| bad(path, no, format!("{what} {s:?} is not an integer")))
}

/// MovieLens 100K: `u.data` (user, item, rating, unix seconds; tab-separated). Every rating
/// is one `view` interaction (its value is not used). Genres from `u.item`, when present
/// beside it, become the item's category (its first genre flag).
pub fn movielens(path: &Path) -> Result<Interactions> {
    let data = file_in(path, "u.data");
    let text = read(&data)?;
    let mut b = InteractionsBuilder::new("movielens-100k");
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f = fields(&data, i + 1, line, '\t', 4)?;
        let rating = int(&data, i + 1, "rating", f[2])?;
        if !(1..=5).contains(&rating) {
            return Err(bad(&data, i + 1, format!("rating {rating} is not 1-5")));
        }
        let ts = int(&data, i + 1, "timestamp", f[3])?;
        b.push(f[0], f[1], InteractionKind::View, ts * 1000, None, None);
    }
    let items = data.with_file_name("u.item");
    if items.exists() {
        let text = read(&items)?;
        for (i, line) in text.lines().enumerate() {
            let f: Vec<&str> = line.split('|').collect();
            if line.trim().is_empty() {
                continue;
            }
            if f.len() < 6 {
                return Err(bad(&items, i + 1, "expected id|title|...|genre flags"));
            }
            // The genre flags are the last 19 fields.
            let flags = &f[f.len().saturating_sub(19)..];
            if let Some(g) = flags.iter().position(|s| s.trim() == "1") {
                b.set_category(f[0].trim(), &format!("genre{g}"));
            }
        }
    }
    Ok(b.finish())
}

/// YooChoose (session-rec's prepared RSC15 sample): `*_train_full.txt` and `*_test.txt` in
/// `dir`, each `SessionId\tItemId\tTime` (unix seconds, float) with a header. Each session is
/// an anonymous user; every click is a `view`. The test file's sessions are recorded as the
/// given test split.
pub fn yoochoose(dir: &Path) -> Result<Interactions> {
    let find = |suffix: &str| -> Result<PathBuf> {
        let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        for e in rd {
            let p = e.map_err(|e| Error::io(dir, e))?.path();
            if p.to_string_lossy().ends_with(suffix) {
                return Ok(p);
            }
        }
        Err(Error::io(
            dir.join(format!("*{suffix}")),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ))
    };
    let mut b = InteractionsBuilder::new("yoochoose-rsc15");
    let mut test = FxHashSet::default();
    for (file, is_test) in [
        (find("_train_full.txt")?, false),
        (find("_test.txt")?, true),
    ] {
        let text = read(&file)?;
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, h)) if h.trim().starts_with("SessionId") => {}
            _ => {
                return Err(bad(
                    &file,
                    1,
                    "expected the header SessionId\\tItemId\\tTime",
                ))
            }
        }
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let f = fields(&file, i + 1, line, '\t', 3)?;
            let secs: f64 = f[2]
                .parse()
                .map_err(|_| bad(&file, i + 1, format!("time {:?} is not a number", f[2])))?;
            if !secs.is_finite() {
                return Err(bad(&file, i + 1, "time is not finite"));
            }
            let user = format!("s{}", f[0]);
            let s = b.push(
                &user,
                f[1],
                InteractionKind::View,
                (secs * 1000.0).round() as i64,
                None,
                Some(f[0]),
            );
            if is_test {
                test.insert(s);
            }
        }
    }
    b.given_test_sessions(test);
    Ok(b.finish())
}

/// Maps a Taobao behaviour to an interaction kind: pv→view, fav→click, cart→add_to_cart,
/// buy→purchase.
pub fn taobao_kind(behavior: &str) -> Option<InteractionKind> {
    Some(match behavior {
        "pv" => InteractionKind::View,
        "fav" => InteractionKind::Click,
        "cart" => InteractionKind::AddToCart,
        "buy" => InteractionKind::Purchase,
        _ => return None,
    })
}

/// Timestamps before 2001-09-09 (10^9 s) are taken as truncated.
const MIN_PLAUSIBLE_SECS: i64 = 1_000_000_000;

/// Taobao UserBehavior (`UserBehavior_sample.csv`, or the file itself): `user,item,category,
/// behavior,unix seconds`, no header. The sample's last line is cut short (no final newline,
/// timestamp truncated): a last line without a newline that does not parse or whose time is
/// implausible is dropped; any other bad row is an error.
pub fn taobao(path: &Path) -> Result<Interactions> {
    let file = file_in(path, "UserBehavior_sample.csv");
    let text = read(&file)?;
    let unterminated = !text.ends_with('\n');
    let n_lines = text.lines().count();
    let mut b = InteractionsBuilder::new("taobao-userbehavior");
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let last_cut = unterminated && i + 1 == n_lines;
        let row = (|| {
            let f = fields(&file, i + 1, line, ',', 5)?;
            let kind = taobao_kind(f[3]).ok_or_else(|| {
                bad(
                    &file,
                    i + 1,
                    format!("behavior {:?} is not pv, fav, cart or buy", f[3]),
                )
            })?;
            let ts = int(&file, i + 1, "timestamp", f[4])?;
            if ts < MIN_PLAUSIBLE_SECS {
                return Err(bad(&file, i + 1, format!("timestamp {ts} is implausible")));
            }
            Ok((f, kind, ts))
        })();
        match row {
            Ok((f, kind, ts)) => {
                b.push(f[0], f[1], kind, ts * 1000, Some(f[2]), None);
            }
            Err(_) if last_cut => {}
            Err(e) => return Err(e),
        }
    }
    Ok(b.finish())
}

/// A generic CSV file: `user,item,timestamp[,kind[,category]]`, one interaction a line, an
/// optional header (skipped when its third field is not a number). The timestamp is unix
/// seconds (decimals allowed), or milliseconds when above 10^11. The kind is `view`, `click`,
/// `add_to_cart`, `purchase` or `impression` (or Taobao's `pv`, `fav`, `cart`, `buy`);
/// `view` when absent or empty.
pub fn csv(path: &Path) -> Result<Interactions> {
    let text = read(path)?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "csv".into());
    let mut b = InteractionsBuilder::new(&name);
    for (i, line) in text.lines().enumerate() {
        let no = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if !(3..=5).contains(&f.len()) {
            return Err(bad(
                path,
                no,
                format!(
                    "expected user,item,timestamp[,kind[,category]], found {} fields",
                    f.len()
                ),
            ));
        }
        let Ok(t) = f[2].parse::<f64>() else {
            if i == 0 {
                continue; // header
            }
            return Err(bad(
                path,
                no,
                format!("timestamp {:?} is not a number", f[2]),
            ));
        };
        if !t.is_finite() || t < 0.0 {
            return Err(bad(path, no, format!("timestamp {:?} is not valid", f[2])));
        }
        let ts_ms = if t > 1e11 {
            t as i64
        } else {
            (t * 1000.0).round() as i64
        };
        if f[0].is_empty() || f[1].is_empty() {
            return Err(bad(path, no, "user and item must not be empty"));
        }
        let kind = match f.get(3).copied().unwrap_or("") {
            "" | "view" => InteractionKind::View,
            "click" => InteractionKind::Click,
            "add_to_cart" => InteractionKind::AddToCart,
            "purchase" => InteractionKind::Purchase,
            "impression" => InteractionKind::Impression,
            k => taobao_kind(k).ok_or_else(|| {
                bad(
                    path,
                    no,
                    format!("kind {k:?} is not view, click, add_to_cart, purchase or impression"),
                )
            })?,
        };
        let cat = f.get(4).copied().filter(|c| !c.is_empty());
        b.push(f[0], f[1], kind, ts_ms, cat, None);
    }
    Ok(b.finish())
}

/// Builds a dataset from `(user, item, kind, ts_ms, category)` records, e.g. read from the
/// lake. Sessions are derived from 30-minute gaps in each user's activity.
pub fn from_records<U, I, C>(
    name: &str,
    records: impl IntoIterator<Item = (U, I, InteractionKind, i64, Option<C>)>,
) -> Interactions
where
    U: AsRef<str>,
    I: AsRef<str>,
    C: AsRef<str>,
{
    from_records_with(InteractionsBuilder::new(name), records)
}

/// [`from_records`] into a prepared builder (e.g. [`InteractionsBuilder::with_vocab`]).
pub fn from_records_with<U, I, C>(
    mut b: InteractionsBuilder,
    records: impl IntoIterator<Item = (U, I, InteractionKind, i64, Option<C>)>,
) -> Interactions
where
    U: AsRef<str>,
    I: AsRef<str>,
    C: AsRef<str>,
{
    for (u, i, kind, ts, cat) in records {
        b.push(
            u.as_ref(),
            i.as_ref(),
            kind,
            ts,
            cat.as_ref().map(AsRef::as_ref),
            None,
        );
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn movielens_rows_and_bad_line() {
        let d = tempfile::tempdir().expect("tmp");
        write(d.path(), "u.data", "1\t10\t5\t100\n2\t10\t3\t50\n");
        let ds = movielens(d.path()).expect("load");
        assert_eq!((ds.n_users(), ds.n_items(), ds.len()), (2, 1, 2));
        assert_eq!(ds.rows[0].ts_ms, 50_000, "sorted by time");
        write(d.path(), "u.data", "1\t10\t5\t100\n2\tx\t3\n");
        let e = movielens(d.path()).expect_err("bad row").to_string();
        assert!(e.contains("u.data:2:"), "{e}");
    }

    #[test]
    fn taobao_maps_kinds_and_drops_cut_last_line() {
        let d = tempfile::tempdir().expect("tmp");
        let p = write(
            d.path(),
            "UserBehavior_sample.csv",
            "1,7,3,pv,1511658000\n1,7,3,buy,1511658001\n2,8,4,fav,1511658002\n3,9,4,pv,15",
        );
        let ds = taobao(&p).expect("load");
        assert_eq!(ds.len(), 3);
        let kinds: Vec<_> = ds.rows.iter().map(|r| r.kind).collect();
        use InteractionKind::*;
        assert_eq!(kinds, vec![View, Purchase, Click]);
        assert_eq!(
            ds.category_of(ds.items.get("8").expect("item")),
            ds.categories.get("4")
        );
        write(
            d.path(),
            "UserBehavior_sample.csv",
            "1,7,3,look,1511658000\n",
        );
        let e = taobao(&p).expect_err("bad kind").to_string();
        assert!(
            e.contains("UserBehavior_sample.csv:1:") && e.contains("look"),
            "{e}"
        );
    }

    #[test]
    fn yoochoose_marks_test_sessions() {
        let d = tempfile::tempdir().expect("tmp");
        let h = "SessionId\tItemId\tTime\n";
        write(
            d.path(),
            "x_train_full.txt",
            &format!("{h}1\t5\t10.5\n1\t6\t11\n"),
        );
        write(d.path(), "x_test.txt", &format!("{h}2\t5\t20\n2\t6\t21\n"));
        let ds = yoochoose(d.path()).expect("load");
        assert_eq!(ds.n_sessions, 2);
        let test = ds.given_test_sessions.as_ref().expect("given");
        assert_eq!(test.len(), 1);
        assert_eq!(ds.rows[0].ts_ms, 10_500);
        write(d.path(), "x_test.txt", &format!("{h}2\t5\tnoon\n"));
        let e = yoochoose(d.path()).expect_err("bad").to_string();
        assert!(e.contains("x_test.txt:2:"), "{e}");
    }

    #[test]
    fn csv_with_header_kinds_and_bad_line() {
        let d = tempfile::tempdir().expect("tmp");
        let p = write(
            d.path(),
            "shop.csv",
            "user,item,ts,kind,category\nu1,a,100,purchase,c1\nu2,a,1700000000000,,\nu2,b,50\n",
        );
        let ds = csv(&p).expect("load");
        assert_eq!((ds.n_users(), ds.n_items(), ds.len()), (2, 2, 3));
        assert_eq!(ds.rows[0].ts_ms, 50_000, "seconds, sorted by time");
        assert_eq!(ds.max_ts_ms(), 1_700_000_000_000, "milliseconds kept");
        write(d.path(), "shop.csv", "u1,a,100\nu1,b,101,like\n");
        let e = csv(&p).expect_err("bad kind").to_string();
        assert!(e.contains("shop.csv:2:") && e.contains("like"), "{e}");
    }

    #[test]
    fn records_derive_sessions_by_gap() {
        let hour = 3_600_000;
        let ds = from_records(
            "t",
            vec![
                ("u", "a", InteractionKind::View, 0, Some("c")),
                ("u", "b", InteractionKind::View, 60_000, None),
                ("u", "c", InteractionKind::View, 2 * hour, None),
                ("v", "a", InteractionKind::View, 0, None::<&str>),
            ],
        );
        let s: Vec<u32> = ds.rows.iter().map(|r| r.session).collect();
        assert_eq!(ds.n_sessions, 3);
        assert_eq!(
            s[0], s[2],
            "u's first two rows share a session (v is row 1)"
        );
        assert_ne!(s[0], s[3]);
    }
}
