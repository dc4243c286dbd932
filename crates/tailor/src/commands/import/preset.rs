//! `tailor import --preset`: the column mappings of the public benchmark datasets
//! (see each folder's PROVENANCE.md).

use super::mapping::CsvSpec;

/// Datasets whose layout `--preset` knows (the public benchmark datasets and their
/// originals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Taobao UserBehavior: `user,item,category,behavior,unix_seconds`, no header;
    /// behavior pv/cart/buy/fav.
    Taobao,
    /// YooChoose clicks as prepared by session-rec: tab-separated `SessionId ItemId Time`
    /// with a header; the session is the anonymous id, every row a product view.
    Yoochoose,
    /// MovieLens u.data: tab-separated `user item rating unix_seconds`, no header; every
    /// rating is a product view carrying `properties.rating`.
    Movielens,
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

impl Preset {
    pub fn spec(self) -> CsvSpec {
        match self {
            Preset::Taobao => CsvSpec {
                header: false,
                user_col: some("1"),
                item_col: some("2"),
                category_col: some("3"),
                event_col: some("4"),
                time_col: some("5"),
                ..CsvSpec::default()
            },
            Preset::Yoochoose => CsvSpec {
                delimiter: '\t',
                header: true,
                anonymous_col: some("SessionId"),
                item_col: some("ItemId"),
                time_col: some("Time"),
                ..CsvSpec::default()
            },
            Preset::Movielens => CsvSpec {
                delimiter: '\t',
                header: false,
                user_col: some("1"),
                item_col: some("2"),
                rating_col: some("3"),
                time_col: some("4"),
                ..CsvSpec::default()
            },
        }
    }
}
