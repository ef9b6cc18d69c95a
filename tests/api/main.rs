//! The integration suite: the real server on `127.0.0.1:0`, driven only through
//! `tessera-client`. Every scenario runs on SQLite, and on PostgreSQL when
//! `TEST_DATABASE_URL` is set (CI sets it). The store itself has its own conformance
//! suite, `tests/store/`.

mod account_protection;
mod accounts;
mod carrier;
mod catalog;
mod control_characters;
mod durability;
mod events;
mod hostile_input;
mod isolation;
mod lifecycle;
mod malformed_requests;
mod observability;
mod operating;
mod partner_isolation;
mod races;
mod read_model;
mod redemption;
mod replicas;
mod restores;
mod seats;
mod stored_records;
mod subscriptions;
mod support;
mod throttles;
mod timestamps;
mod transport;
mod web;
