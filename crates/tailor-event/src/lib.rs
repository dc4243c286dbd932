//! Tailor's event model, with no I/O: the canonical [`Event`] every later stage reads, the
//! Segment HTTP Tracking API mapping ([`segment`]), the e-commerce spec v2 → interaction
//! mapping ([`ecommerce`]), event-time resolution ([`time`]) and the versioned JSON Schema
//! registry with compatibility modes ([`schema`]).

pub mod ecommerce;
mod error;
pub mod event;
pub mod schema;
pub mod segment;
pub mod time;

pub use ecommerce::{Interaction, InteractionKind};
pub use error::{Error, Result};
pub use event::{Event, EventType, EventView};
pub use schema::{Compatibility, SchemaRegistry};
pub use segment::{parse_request, Endpoint, ParsedEvent, ParsedRequest, Rejection};

/// Largest serialized size of one event; larger events are dead-lettered, not stored.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
