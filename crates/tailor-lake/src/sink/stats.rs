//! The counters a sink run returns.

/// What a sink run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Log records consumed and committed.
    pub records: u64,
    /// Rows committed to `events`.
    pub event_rows: u64,
    /// Rows committed to `dead_letters`.
    pub dead_letter_rows: u64,
    /// Records that could not be decoded (kept in `dead_letters`).
    pub undecodable: u64,
    /// Records the log deleted before the sink read them.
    pub skipped: u64,
    /// Data files committed.
    pub files: u64,
    /// Bytes of data files committed.
    pub bytes: u64,
    /// Manifest versions committed.
    pub commits: u64,
}

impl SinkStats {
    pub(super) fn add(&mut self, o: &SinkStats) {
        self.records += o.records;
        self.event_rows += o.event_rows;
        self.dead_letter_rows += o.dead_letter_rows;
        self.undecodable += o.undecodable;
        self.skipped += o.skipped;
        self.files += o.files;
        self.bytes += o.bytes;
        self.commits += o.commits;
    }
}
