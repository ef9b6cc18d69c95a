//! Seats: devices protected under a subscription.

use super::subscription::stored_enum;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

stored_enum! {
    /// A device's operating system.
    Platform {
        /// Windows.
        Windows = "WINDOWS",
        /// macOS.
        MacOs = "MACOS",
        /// Android.
        Android = "ANDROID",
        /// iOS.
        Ios = "IOS",
    }
}

/// One device holding (or having held) a seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    /// Seat id.
    pub id: Uuid,
    /// The subscription.
    pub subscription_id: Uuid,
    /// The app's stable device id.
    pub device_id: String,
    /// Operating system.
    pub platform: Platform,
    /// Display name.
    pub display_name: String,
    /// When the seat was taken.
    pub activated_at: DateTime<Utc>,
    /// When the device last checked in.
    pub last_seen_at: DateTime<Utc>,
    /// When the seat was freed.
    pub deactivated_at: Option<DateTime<Utc>>,
}

impl Seat {
    /// Whether the device holds the seat now.
    pub fn is_active(&self) -> bool {
        self.deactivated_at.is_none()
    }
}

/// What a device asks for when it takes a seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSeat {
    /// The app's stable device id.
    pub device_id: String,
    /// Operating system.
    pub platform: Platform,
    /// Display name.
    pub display_name: String,
}

/// Checks a device id: 1 to 128 printable ASCII characters.
pub fn parse_device_id(raw: &str) -> Result<String> {
    if raw.is_empty() {
        return Err(Error::invalid("device_id", "is required"));
    }
    if raw.len() > 128 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "device_id",
            "must be 1 to 128 printable ASCII characters",
        ));
    }
    Ok(raw.to_owned())
}

/// The result of an activation.
#[derive(Debug, Clone)]
pub struct Activation {
    /// The seat the device holds.
    pub seat: Seat,
    /// A fresh device token for it.
    pub device_token: String,
    /// False when the device already held the seat.
    pub newly_taken: bool,
}
