//! Tessera: the activation backend behind a subscription security suite. Accounts,
//! subscriptions and the seats (devices) each may protect, served over gRPC.
//!
//! Layers: [`api`] (the gRPC edge), [`domain`] (types and rules, no I/O), [`store`]
//! (SQLite and PostgreSQL), [`app`] (start-up), [`settings`] (configuration).

pub mod api;
pub mod app;
pub mod app_stores;
pub mod cli;
pub mod domain;
pub mod error;
pub mod lifecycle;
pub mod proto;
pub mod settings;
pub mod store;

pub use app::Application;
pub use error::{Error, Result};
pub use settings::Settings;
