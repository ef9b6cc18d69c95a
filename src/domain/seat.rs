//! Seats: devices protected under a subscription. The seat rules are methods of the
//! subscription (`subscription/seats.rs`), which guards the limit.

use super::stored_enum::stored_enum;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl NewSeat {
    /// The device of an existing seat, asking for a seat elsewhere.
    pub fn of(seat: &Seat) -> Self {
        Self {
            device_id: seat.device_id.clone(),
            platform: seat.platform,
            display_name: seat.display_name.clone(),
        }
    }
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

/// The seat a device got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatClaim {
    /// The device already held this seat: nothing was taken.
    Held(Seat),
    /// A new seat was taken.
    Taken(Seat),
}

impl SeatClaim {
    /// The seat, either way.
    pub fn seat(&self) -> &Seat {
        match self {
            SeatClaim::Held(seat) | SeatClaim::Taken(seat) => seat,
        }
    }
}
