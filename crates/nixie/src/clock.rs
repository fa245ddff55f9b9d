//! Time: where "now" comes from, which zone it is shown in, and whether the
//! system clock is known to be right.
//!
//! The daemon never keeps time itself. The OS's NTP client (chrony,
//! systemd-timesyncd, ntpd) disciplines the system clock; the daemon reads
//! it at every display tick and converts it to local time with `jiff`, so
//! daylight-saving changes and NTP steps (forward or back) show up at the
//! next tick without any state to get stuck. NTP health is read from the
//! kernel with `ntp_adjtime` (read-only: `modes = 0`).

use std::sync::{Arc, Mutex};

use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Timestamp};

/// Whether the kernel considers the clock synchronised, per `ntp_adjtime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncStatus {
    /// `STA_UNSYNC` clear and the call did not return `TIME_ERROR`.
    pub synchronised: bool,
    /// Kernel's maximum error estimate (µs).
    pub max_error_us: i64,
    /// Kernel's estimated error (µs).
    pub est_error_us: i64,
}

impl SyncStatus {
    /// A synchronised status with zero error (for fake clocks).
    pub const SYNCED: SyncStatus = SyncStatus {
        synchronised: true,
        max_error_us: 0,
        est_error_us: 0,
    };
    /// An unsynchronised status (for fake clocks).
    pub const UNSYNCED: SyncStatus = SyncStatus {
        synchronised: false,
        max_error_us: 16_000_000,
        est_error_us: 16_000_000,
    };
}

/// Reads the kernel NTP state without changing it.
pub fn kernel_sync_status() -> std::io::Result<SyncStatus> {
    // SAFETY: a zeroed timex with modes = 0 is a valid read-only query.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    tx.modes = 0;
    // SAFETY: `tx` is valid and writable for the call.
    let state = unsafe { libc::ntp_adjtime(&mut tx) };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let unsync = tx.status & libc::STA_UNSYNC != 0 || state == libc::TIME_ERROR;
    Ok(SyncStatus {
        synchronised: !unsync,
        max_error_us: tx.maxerror as i64,
        est_error_us: tx.esterror as i64,
    })
}

/// A source of wall-clock time and its NTP status.
pub trait TimeSource: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
    /// Whether the time can be trusted.
    fn sync(&self) -> SyncStatus;
}

/// The system clock, kept by the OS's NTP client.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl TimeSource for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
    fn sync(&self) -> SyncStatus {
        kernel_sync_status().unwrap_or(SyncStatus::UNSYNCED)
    }
}

/// The system clock shifted by a fixed offset: a demo clock that starts at
/// a chosen instant and then runs at the real rate (`nixie --time …`).
#[derive(Clone, Copy, Debug)]
pub struct OffsetClock {
    offset: SignedDuration,
}

impl OffsetClock {
    /// A clock that reads `start` now.
    pub fn starting_at(start: Timestamp) -> OffsetClock {
        OffsetClock {
            offset: start.duration_since(Timestamp::now()),
        }
    }
}

impl TimeSource for OffsetClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
            .checked_add(self.offset)
            .unwrap_or(Timestamp::MAX)
    }
    fn sync(&self) -> SyncStatus {
        SystemClock.sync()
    }
}

#[derive(Debug)]
struct FakeState {
    now: Timestamp,
    sync: SyncStatus,
}

/// A clock that moves only when told to: for tests of DST changes, NTP
/// steps and schedules. Clones share the same time.
#[derive(Clone, Debug)]
pub struct FakeClock(Arc<Mutex<FakeState>>);

impl FakeClock {
    /// A synchronised fake clock reading `now`.
    pub fn new(now: Timestamp) -> FakeClock {
        FakeClock(Arc::new(Mutex::new(FakeState {
            now,
            sync: SyncStatus::SYNCED,
        })))
    }

    fn with<R>(&self, f: impl FnOnce(&mut FakeState) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Sets the time.
    pub fn set(&self, now: Timestamp) {
        self.with(|s| s.now = now);
    }

    /// Moves the time by `d` (negative for a backward step).
    pub fn step(&self, d: SignedDuration) {
        self.with(|s| s.now = s.now.checked_add(d).unwrap_or(s.now));
    }

    /// Sets the NTP status.
    pub fn set_sync(&self, sync: SyncStatus) {
        self.with(|s| s.sync = sync);
    }
}

impl TimeSource for FakeClock {
    fn now(&self) -> Timestamp {
        self.with(|s| s.now)
    }
    fn sync(&self) -> SyncStatus {
        self.with(|s| s.sync)
    }
}

/// Where a time zone came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneSource {
    /// The system tz database (`/usr/share/zoneinfo`) or `/etc/localtime`.
    System,
    /// The copy of the tz database built into the binary.
    Bundled,
    /// No zone could be found; UTC is used.
    UtcFallback,
}

/// Finds a time zone: by IANA `name` if given, else the system's local zone.
///
/// The system database is tried first (it is updated by the OS); the copy
/// built into the binary is the fallback, so a minimal image without
/// `tzdata` still shows correct local time.
pub fn load_zone(name: Option<&str>) -> Result<(TimeZone, ZoneSource), String> {
    match name {
        Some(n) => {
            if let Ok(tz) = jiff::tz::db().get(n)
                && !jiff::tz::db().is_definitively_empty()
            {
                return Ok((tz, ZoneSource::System));
            }
            TimeZoneDatabase::bundled()
                .get(n)
                .map(|tz| (tz, ZoneSource::Bundled))
                .map_err(|e| format!("unknown time zone {n:?}: {e}"))
        }
        None => match TimeZone::try_system() {
            Ok(tz) => Ok((tz, ZoneSource::System)),
            Err(_) => Ok((TimeZone::UTC, ZoneSource::UtcFallback)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_steps_both_ways() {
        let t0: Timestamp = "2026-03-29T00:59:30Z".parse().unwrap();
        let c = FakeClock::new(t0);
        let c2 = c.clone();
        c.step(SignedDuration::from_secs(-30));
        assert_eq!(
            c2.now(),
            "2026-03-29T00:59:00Z".parse::<Timestamp>().unwrap()
        );
        c.step(SignedDuration::from_hours(1));
        assert_eq!(
            c2.now(),
            "2026-03-29T01:59:00Z".parse::<Timestamp>().unwrap()
        );
        c.set_sync(SyncStatus::UNSYNCED);
        assert!(!c2.sync().synchronised);
    }

    #[test]
    fn zones_load_from_system_or_bundle() {
        let (tz, _) = load_zone(Some("Europe/Brussels")).unwrap();
        assert_eq!(tz.iana_name(), Some("Europe/Brussels"));
        let bundled = TimeZoneDatabase::bundled().get("America/Chicago").unwrap();
        assert_eq!(bundled.iana_name(), Some("America/Chicago"));
        let e = load_zone(Some("Mars/Olympus_Mons")).unwrap_err();
        assert!(e.contains("Mars/Olympus_Mons"), "{e}");
    }

    #[test]
    fn kernel_status_is_readable() {
        // Unprivileged read-only query: must not fail on Linux.
        let s = kernel_sync_status().unwrap();
        assert!(s.max_error_us >= 0);
    }

    #[test]
    fn offset_clock_starts_where_asked() {
        let start: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let c = OffsetClock::starting_at(start);
        let d = c.now().duration_since(start);
        assert!(
            d >= SignedDuration::ZERO && d < SignedDuration::from_secs(5),
            "{d:?}"
        );
    }
}
