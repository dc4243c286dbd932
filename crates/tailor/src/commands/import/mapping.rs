//! `tailor import --format csv`: the column mapping from delimited rows to Segment track
//! events, and the dataset presets. No I/O: a row goes in, a JSON event (or the reason it
//! cannot be one) comes out.

use std::collections::HashMap;

use anyhow::{bail, Result};
use serde_json::{json, Map, Value};
use tailor_event::ecommerce::kind_for_event;

use super::fields::{message_id, number, parse_time, split_fields};

/// How the time column is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TimeFormat {
    /// Seconds since the epoch, fraction allowed (`1511658000`, `1396860669.277`).
    #[value(name = "unix-seconds", alias = "unix", alias = "s")]
    UnixSeconds,
    /// Milliseconds since the epoch.
    #[value(name = "unix-millis", alias = "ms")]
    UnixMillis,
    /// RFC 3339 (`2026-01-15T10:00:00Z`).
    #[value(name = "rfc3339")]
    Rfc3339,
}

/// Lower-cased column values the mapping knows, and the Segment e-commerce event each
/// becomes. `--event-map VALUE=NAME` adds to or overrides these.
const DEFAULT_EVENT_MAP: &[(&str, &str)] = &[
    ("view", "Product Viewed"),
    ("pv", "Product Viewed"),
    ("page_view", "Product Viewed"),
    ("pageview", "Product Viewed"),
    ("detail", "Product Viewed"),
    ("click", "Product Clicked"),
    ("cart", "Product Added"),
    ("add_to_cart", "Product Added"),
    ("addtocart", "Product Added"),
    ("buy", "Order Completed"),
    ("purchase", "Order Completed"),
    ("order", "Order Completed"),
    ("transaction", "Order Completed"),
    ("fav", "Product Added to Wishlist"),
    ("favorite", "Product Added to Wishlist"),
    ("wishlist", "Product Added to Wishlist"),
];

/// The event a row becomes when there is no event column.
pub const DEFAULT_EVENT: &str = "Product Viewed";

/// The mapping as given by flags and presets; columns are header names or 1-based
/// positions, resolved against the header by [`CsvSpec::resolve`].
#[derive(Debug, Clone, PartialEq)]
pub struct CsvSpec {
    pub delimiter: char,
    pub header: bool,
    pub user_col: Option<String>,
    pub anonymous_col: Option<String>,
    pub item_col: Option<String>,
    pub event_col: Option<String>,
    pub time_col: Option<String>,
    pub time_format: TimeFormat,
    pub category_col: Option<String>,
    pub price_col: Option<String>,
    pub rating_col: Option<String>,
    pub default_event: String,
    pub event_map: Vec<(String, String)>,
}

impl Default for CsvSpec {
    fn default() -> Self {
        CsvSpec {
            delimiter: ',',
            header: true,
            user_col: None,
            anonymous_col: None,
            item_col: None,
            event_col: None,
            time_col: None,
            time_format: TimeFormat::UnixSeconds,
            category_col: None,
            price_col: None,
            rating_col: None,
            default_event: DEFAULT_EVENT.to_owned(),
            event_map: Vec::new(),
        }
    }
}

/// Parses an `--event-map VALUE=EVENT NAME` entry.
pub fn parse_event_map(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((v, name)) if !v.trim().is_empty() && !name.trim().is_empty() => {
            Ok((v.trim().to_lowercase(), name.trim().to_owned()))
        }
        _ => bail!(
            "--event-map {s:?}: expected VALUE=EVENT NAME, e.g. --event-map \"pv=Product Viewed\""
        ),
    }
}

/// A resolved column: 0-based index, and the flag that named it (for messages).
#[derive(Debug, Clone, Copy)]
struct Col {
    flag: &'static str,
    index: usize,
}

impl Col {
    fn describe(self) -> String {
        format!("{} (column {})", self.flag, self.index + 1)
    }
}

fn resolve_col(
    flag: &'static str,
    spec: Option<&String>,
    header: Option<&[String]>,
) -> Result<Option<Col>> {
    let Some(s) = spec else { return Ok(None) };
    if let Some(i) = header.and_then(|h| h.iter().position(|c| c == s)) {
        return Ok(Some(Col { flag, index: i }));
    }
    match (s.parse::<usize>(), header) {
        (Ok(0), _) => bail!("{flag} 0: columns are numbered from 1"),
        (Ok(n), Some(h)) if n > h.len() => bail!(
            "{flag} {n}: the header has only {} columns ({})",
            h.len(),
            h.join(", ")
        ),
        (Ok(n), _) => Ok(Some(Col {
            flag,
            index: n - 1,
        })),
        (Err(_), Some(h)) => bail!(
            "{flag} {s:?}: no such column in the header (columns: {})",
            h.join(", ")
        ),
        (Err(_), None) => bail!(
            "{flag} {s:?}: the file has no header row (--no-header), so give columns by position (1 = first)"
        ),
    }
}

/// A [`CsvSpec`] resolved against the file's header: turns rows into events.
#[derive(Debug)]
pub struct CsvMapping {
    delimiter: char,
    user: Option<Col>,
    anonymous: Option<Col>,
    item: Col,
    event: Option<Col>,
    time: Option<(Col, TimeFormat)>,
    category: Option<Col>,
    price: Option<Col>,
    rating: Option<Col>,
    default_event: String,
    event_map: HashMap<String, String>,
    source: String,
}

impl CsvSpec {
    /// Resolves column names against `header` (the first row, when the file has one).
    /// `source` names the file in message ids.
    pub fn resolve(&self, header: Option<&[String]>, source: &str) -> Result<CsvMapping> {
        let col = |flag, spec: &Option<String>| resolve_col(flag, spec.as_ref(), header);
        let user = col("--user-col", &self.user_col)?;
        let anonymous = col("--anonymous-col", &self.anonymous_col)?;
        if user.is_none() && anonymous.is_none() {
            bail!("--format csv needs --user-col (or --anonymous-col for session ids): the column holding who acted");
        }
        let Some(item) = col("--item-col", &self.item_col)? else {
            bail!("--format csv needs --item-col: the column holding the product id");
        };
        let mut event_map: HashMap<String, String> = DEFAULT_EVENT_MAP
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        event_map.extend(self.event_map.iter().cloned());
        if self.default_event.trim().is_empty() {
            bail!("--default-event must not be empty");
        }
        Ok(CsvMapping {
            delimiter: self.delimiter,
            user,
            anonymous,
            item,
            event: col("--event-col", &self.event_col)?,
            time: col("--time-col", &self.time_col)?.map(|c| (c, self.time_format)),
            category: col("--category-col", &self.category_col)?,
            price: col("--price-col", &self.price_col)?,
            rating: col("--rating-col", &self.rating_col)?,
            default_event: self.default_event.clone(),
            event_map,
            source: source.to_owned(),
        })
    }
}

impl CsvMapping {
    /// The header row's column names.
    pub fn header_fields(line: &str, delimiter: char) -> Result<Vec<String>> {
        let line = line.strip_prefix('\u{feff}').unwrap_or(line);
        split_fields(line, delimiter)
            .map(|f| f.into_iter().map(|c| c.trim().to_owned()).collect())
            .map_err(|e| anyhow::anyhow!("the header row: {e}"))
    }

    /// The Segment track event for one row (line `line` of the file), as JSON.
    pub fn map_row(&self, raw: &str, line: u64) -> Result<Value, String> {
        let fields = split_fields(raw, self.delimiter)?;
        let get = |c: Col| -> Result<&str, String> {
            fields.get(c.index).map(|f| f.trim()).ok_or_else(|| {
                format!(
                    "the row has {} fields; {} is missing",
                    fields.len(),
                    c.describe()
                )
            })
        };
        let opt = |c: Option<Col>| -> Result<Option<&str>, String> {
            Ok(match c {
                Some(c) => Some(get(c)?).filter(|v| !v.is_empty()),
                None => None,
            })
        };
        let user = opt(self.user)?;
        let anonymous = opt(self.anonymous)?;
        if user.is_none() && anonymous.is_none() {
            let cols: Vec<String> = [self.user, self.anonymous]
                .into_iter()
                .flatten()
                .map(Col::describe)
                .collect();
            return Err(format!(
                "userId or anonymousId is required: {} is empty",
                cols.join(" and ")
            ));
        }
        let item = get(self.item)?;
        if item.is_empty() {
            return Err(format!(
                "{} is empty: a product id is required",
                self.item.describe()
            ));
        }
        let name = match self.event {
            None => self.default_event.clone(),
            Some(c) => self.event_name(get(c)?, c)?,
        };
        let mut product = Map::new();
        product.insert("product_id".into(), json!(item));
        if let Some(v) = opt(self.category)? {
            product.insert("category".into(), json!(v));
        }
        if let Some(c) = self.price {
            if let Some(v) = opt(Some(c))? {
                product.insert("price".into(), json!(number(v, &c.describe())?));
            }
        }
        let id = message_id(&self.source, line, raw);
        let mut properties = if name == "Order Completed" {
            product.insert("quantity".into(), json!(1));
            let mut p = Map::new();
            p.insert("order_id".into(), json!(id));
            p.insert(
                "products".into(),
                Value::Array(vec![Value::Object(product)]),
            );
            p
        } else {
            product
        };
        if let Some(c) = self.rating {
            if let Some(v) = opt(Some(c))? {
                properties.insert("rating".into(), json!(number(v, &c.describe())?));
            }
        }
        let mut event = Map::new();
        event.insert("type".into(), json!("track"));
        event.insert("event".into(), json!(name));
        event.insert("messageId".into(), json!(id));
        if let Some(u) = user {
            event.insert("userId".into(), json!(u));
        }
        if let Some(a) = anonymous {
            event.insert("anonymousId".into(), json!(a));
        }
        if let Some((c, format)) = self.time {
            let v = get(c)?;
            let ms = parse_time(v, format).map_err(|e| format!("{}: {e}", c.describe()))?;
            event.insert("timestamp".into(), json!(tailor_event::time::format_ms(ms)));
        }
        event.insert("properties".into(), Value::Object(properties));
        Ok(Value::Object(event))
    }

    fn event_name(&self, value: &str, c: Col) -> Result<String, String> {
        if let Some(name) = self.event_map.get(&value.to_lowercase()) {
            return Ok(name.clone());
        }
        if kind_for_event(value).is_some() || value == "Product Added to Wishlist" {
            return Ok(value.to_owned());
        }
        Err(format!(
            "{} value {value:?} is not mapped to an event: add --event-map \"{value}=EVENT NAME\"",
            c.describe()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::import::fields::parse_delimiter;
    use crate::commands::import::preset::Preset;

    #[test]
    fn splits_plain_and_quoted_fields() {
        assert_eq!(
            split_fields("a,b,,c", ','),
            Ok(vec!["a".into(), "b".into(), "".into(), "c".into()])
        );
        assert_eq!(
            split_fields("\"x, y\",\"say \"\"hi\"\"\",z", ','),
            Ok(vec!["x, y".into(), "say \"hi\"".into(), "z".into()])
        );
        assert_eq!(split_fields("1\t2", '\t'), Ok(vec!["1".into(), "2".into()]));
        assert!(split_fields("\"open,b", ',').is_err());
        assert!(split_fields("\"a\"b,c", ',').is_err());
    }

    #[test]
    fn taobao_rows_become_ecommerce_events() {
        let m = Preset::Taobao
            .spec()
            .resolve(None, "ub.csv")
            .expect("mapping");
        let view = m
            .map_row("543462,1715,1464116,pv,1511658000", 1)
            .expect("view");
        assert_eq!(view["event"], "Product Viewed");
        assert_eq!(view["userId"], "543462");
        assert_eq!(view["timestamp"], "2017-11-26T01:00:00.000Z");
        assert_eq!(view["properties"]["product_id"], "1715");
        assert_eq!(view["properties"]["category"], "1464116");
        let buy = m.map_row("1,2,3,buy,1511658000", 2).expect("buy");
        assert_eq!(buy["event"], "Order Completed");
        assert_eq!(buy["properties"]["products"][0]["product_id"], "2");
        assert_eq!(buy["properties"]["order_id"], buy["messageId"]);
        assert_eq!(
            m.map_row("1,2,3,fav,1511658000", 3).expect("fav")["event"],
            "Product Added to Wishlist"
        );
        // The truncated last row of the sample: "15" is not a plausible time.
        let e = m
            .map_row("301780,543546,4181361,pv,15", 4)
            .expect_err("truncated");
        assert!(
            e.contains("--time-col (column 5)") && e.contains("1990"),
            "{e}"
        );
        let e = m.map_row("1,2,3,zap,1511658000", 5).expect_err("unmapped");
        assert!(e.contains("--event-map \"zap=EVENT NAME\""), "{e}");
        assert!(m
            .map_row("1,2,3", 6)
            .expect_err("short")
            .contains("--event-col (column 4) is missing"));
    }

    #[test]
    fn ids_are_deterministic_per_file_line_and_content() {
        let a = message_id("f.csv", 3, "1,2,3");
        assert_eq!(a, message_id("f.csv", 3, "1,2,3"));
        assert_ne!(a, message_id("f.csv", 4, "1,2,3"));
        assert_ne!(a, message_id("g.csv", 3, "1,2,3"));
        assert_ne!(a, message_id("f.csv", 3, "1,2,4"));
    }

    #[test]
    fn columns_resolve_by_name_or_position_with_clear_errors() {
        let header = vec!["SessionId".to_owned(), "ItemId".into(), "Time".into()];
        let m = Preset::Yoochoose
            .spec()
            .resolve(Some(&header), "y.txt")
            .expect("mapping");
        let ev = m.map_row("1\t214536502\t1396860669.277", 2).expect("row");
        assert_eq!(ev["anonymousId"], "1");
        assert_eq!(ev["event"], "Product Viewed");
        assert_eq!(ev["timestamp"], "2014-04-07T08:51:09.277Z");
        let spec = CsvSpec {
            user_col: Some("user".into()),
            item_col: Some("ItemId".into()),
            ..CsvSpec::default()
        };
        let e = spec
            .resolve(Some(&header), "y")
            .expect_err("missing")
            .to_string();
        assert!(
            e.contains("--user-col \"user\"") && e.contains("SessionId, ItemId, Time"),
            "{e}"
        );
        let e = spec.resolve(None, "y").expect_err("no header").to_string();
        assert!(e.contains("--no-header"), "{e}");
        let e = CsvSpec::default()
            .resolve(None, "y")
            .expect_err("no user")
            .to_string();
        assert!(e.contains("--user-col"), "{e}");
        let ml = Preset::Movielens
            .spec()
            .resolve(None, "u.data")
            .expect("ml");
        let ev = ml.map_row("196\t242\t3\t881250949", 1).expect("rating");
        assert_eq!(ev["properties"]["rating"], 3.0);
        assert!(parse_event_map("pv").is_err());
        assert_eq!(parse_delimiter("tab").expect("tab"), '\t');
        assert!(parse_delimiter(";;").is_err());
    }
}
