//! Tessera: the activation backend behind a subscription security suite. Accounts,
//! subscriptions and the seats (devices) each may protect, served over gRPC.
//!
//! Layers, each using only those below it: [`api`] (the gRPC edge) → [`service`] (the
//! use cases, one unit of work each) → [`domain`] (aggregates and their rules, no I/O)
//! and [`store`] (per-aggregate traits, a module per backend). [`app`] starts it all;
//! [`settings`] is the configuration; [`observe`] is what operators see of it (metrics,
//! logs, traces, health); [`web`] lets browsers in (gRPC-Web and the account page).
//! `ARCHITECTURE.md` tells how a request flows.

pub mod api;
pub mod app;
pub mod app_stores;
pub mod cli;
pub mod domain;
pub mod error;
pub mod lifecycle;
pub mod observe;
pub mod proto;
pub mod service;
pub mod settings;
pub mod store;
pub mod transport;
pub mod web;

pub use app::Application;
pub use error::{Error, Result};
pub use settings::Settings;
