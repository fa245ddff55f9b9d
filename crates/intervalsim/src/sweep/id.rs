//! Stable point ids: a 64-bit FNV-1a hash of the resolved configuration and workload.
//!
//! The hash is written out here rather than taken from `std::hash` because the standard
//! hashers make no promise of stability across Rust releases, and an id must name the same
//! point in a result directory written by any build.

/// FNV-1a, 64 bit.
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Fnv64 {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    /// Mix in `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    /// Mix in a field, length-prefixed so that ("ab","c") and ("a","bc") differ.
    pub fn field(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }
    /// The hash as 16 lower-case hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// Whether `s` looks like a point id (16 lower-case hex digits).
pub fn is_id(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        let mut h = Fnv64::default();
        h.write(b"");
        assert_eq!(h.hex(), "cbf29ce484222325");
        let mut h = Fnv64::default();
        h.write(b"a");
        assert_eq!(h.hex(), "af63dc4c8601ec8c");
        let mut h = Fnv64::default();
        h.write(b"foobar");
        assert_eq!(h.hex(), "85944171f73967e8");
        assert!(is_id(&h.hex()));
    }

    #[test]
    fn fields_are_length_prefixed() {
        let (mut a, mut b) = (Fnv64::default(), Fnv64::default());
        a.field(b"ab");
        a.field(b"c");
        b.field(b"a");
        b.field(b"bc");
        assert_ne!(a.hex(), b.hex());
    }
}
