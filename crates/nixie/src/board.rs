//! The hardware model: which signal is on which pin, what the K155ID1 decoder
//! does with a BCD code, and how each tube's cathodes are wired.
//!
//! The whole board state is one [`Levels`] word: four BCD lines, four anode
//! lines, the colon and the optional high-voltage enable. Backends receive
//! complete `Levels` words and change only the lines that differ, so the
//! multiplexer reasons about whole-board states and never about single pins.

use std::fmt;

/// Number of tubes on the board (HH:MM).
pub const TUBES: usize = 4;

/// The code that makes a K155ID1/74141 light no cathode.
///
/// Codes 10–15 light nothing on a genuine K155ID1, but some look-alike
/// decoders light an output for some of them, so blanking always uses this
/// code *and* switches every anode off.
pub const BLANK_CODE: u8 = 15;

/// One logical signal of the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// BCD line `A` (weight 1) of the decoder.
    A,
    /// BCD line `B` (weight 2).
    B,
    /// BCD line `C` (weight 4).
    C,
    /// BCD line `D` (weight 8).
    D,
    /// Anode switch (optocoupler) of tube `0..4`, tube 0 being the leftmost.
    Anode(u8),
    /// The neon colon dots.
    Colon,
    /// Enable input of the high-voltage supply.
    HvEnable,
}

impl Signal {
    /// Every signal in bit order of [`Levels`].
    pub const ALL: [Signal; 10] = [
        Signal::A,
        Signal::B,
        Signal::C,
        Signal::D,
        Signal::Anode(0),
        Signal::Anode(1),
        Signal::Anode(2),
        Signal::Anode(3),
        Signal::Colon,
        Signal::HvEnable,
    ];

    /// Bit position of the signal in a [`Levels`] word.
    pub fn bit(self) -> u32 {
        match self {
            Signal::A => 0,
            Signal::B => 1,
            Signal::C => 2,
            Signal::D => 3,
            Signal::Anode(i) => 4 + u32::from(i),
            Signal::Colon => 8,
            Signal::HvEnable => 9,
        }
    }

    /// Short name used in diagrams and messages (`A`, `anode1`, `colon`, …).
    pub fn name(self) -> String {
        match self {
            Signal::A => "A".into(),
            Signal::B => "B".into(),
            Signal::C => "C".into(),
            Signal::D => "D".into(),
            Signal::Anode(i) => format!("anode{}", i + 1),
            Signal::Colon => "colon".into(),
            Signal::HvEnable => "hv".into(),
        }
    }
}

/// The level of every board signal at one moment, one bit per [`Signal`].
///
/// Bits 0–3 hold the BCD code, bits 4–7 the anodes, bit 8 the colon and bit 9
/// the high-voltage enable. A set bit means "active" (anode conducting, colon
/// lit); polarity inversion for a particular board belongs to the backend.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Levels(pub u16);

impl Levels {
    /// Mask of the four BCD bits.
    pub const BCD_MASK: u16 = 0x000f;
    /// Mask of the four anode bits.
    pub const ANODE_MASK: u16 = 0x00f0;

    /// Everything off and the decoder showing the blank code: the safe state.
    pub const fn all_off() -> Levels {
        Levels(BLANK_CODE as u16)
    }

    /// Whether `signal` is active.
    pub fn get(self, signal: Signal) -> bool {
        self.0 & (1 << signal.bit()) != 0
    }

    /// Returns a copy with `signal` set to `on`.
    #[must_use]
    pub fn with(self, signal: Signal, on: bool) -> Levels {
        let bit = 1u16 << signal.bit();
        Levels(if on { self.0 | bit } else { self.0 & !bit })
    }

    /// The BCD code on lines D C B A.
    pub fn bcd(self) -> u8 {
        (self.0 & Self::BCD_MASK) as u8
    }

    /// Returns a copy with the BCD lines set to `code` (only the low 4 bits count).
    #[must_use]
    pub fn with_bcd(self, code: u8) -> Levels {
        Levels((self.0 & !Self::BCD_MASK) | (u16::from(code) & Self::BCD_MASK))
    }

    /// Bit mask of the conducting anodes (bit `i` = tube `i`).
    pub fn anodes(self) -> u8 {
        ((self.0 & Self::ANODE_MASK) >> 4) as u8
    }

    /// Returns a copy with every anode off.
    #[must_use]
    pub fn without_anodes(self) -> Levels {
        Levels(self.0 & !Self::ANODE_MASK)
    }

    /// The single conducting tube, if exactly one anode is on.
    pub fn lit_tube(self) -> Option<usize> {
        let a = self.anodes();
        (a.count_ones() == 1).then(|| a.trailing_zeros() as usize)
    }
}

impl fmt::Debug for Levels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Levels(bcd={}, anodes={:04b}, colon={}, hv={})",
            self.bcd(),
            self.anodes(),
            u8::from(self.get(Signal::Colon)),
            u8::from(self.get(Signal::HvEnable))
        )
    }
}

/// What the K155ID1 (74141) does with a BCD code: codes 0–9 pull exactly
/// that output low (one cathode lit), codes 10–15 light nothing.
pub fn k155id1_output(code: u8) -> Option<u8> {
    (code < 10).then_some(code)
}

/// Which GPIO line offset carries each signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinMap {
    /// BCD lines A, B, C, D.
    pub bcd: [u32; 4],
    /// Anode lines, tube 0 (leftmost) first.
    pub anodes: [u32; TUBES],
    /// Colon line.
    pub colon: u32,
    /// High-voltage enable line, if the supply has one wired.
    pub hv_enable: Option<u32>,
    /// Lines driven active-low (e.g. an optocoupler LED wired from 3.3 V to
    /// the GPIO): the backend inverts them, [`Levels`] stays logical.
    pub active_low: Vec<u32>,
}

impl PinMap {
    /// Every (signal, line offset) pair in [`Signal::ALL`] order.
    pub fn lines(&self) -> Vec<(Signal, u32)> {
        let mut v = vec![
            (Signal::A, self.bcd[0]),
            (Signal::B, self.bcd[1]),
            (Signal::C, self.bcd[2]),
            (Signal::D, self.bcd[3]),
        ];
        for (i, &p) in self.anodes.iter().enumerate() {
            v.push((Signal::Anode(i as u8), p));
        }
        v.push((Signal::Colon, self.colon));
        if let Some(hv) = self.hv_enable {
            v.push((Signal::HvEnable, hv));
        }
        v
    }
}

/// Per-tube wiring from displayed digit to the decoder output (cathode
/// number) that lights it.
///
/// Boards wired "in another order" (to make the PCB routable) set a
/// permutation per tube; the identity is the default. The constructor
/// guarantees each map is a permutation of 0–9, so every digit lights exactly
/// one distinct cathode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CathodeMap {
    maps: [[u8; 10]; TUBES],
}

impl Default for CathodeMap {
    fn default() -> Self {
        let id = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        CathodeMap { maps: [id; TUBES] }
    }
}

impl CathodeMap {
    /// Builds a map from one 10-entry table per tube: entry `d` is the decoder
    /// code that lights digit `d`. Errors name the tube and the problem.
    pub fn new(maps: [[u8; 10]; TUBES]) -> Result<CathodeMap, String> {
        for (t, m) in maps.iter().enumerate() {
            let mut seen = [false; 10];
            for &c in m {
                if c > 9 {
                    return Err(format!("tube {}: code {c} is not a cathode (0-9)", t + 1));
                }
                if seen[usize::from(c)] {
                    return Err(format!("tube {}: code {c} appears twice", t + 1));
                }
                seen[usize::from(c)] = true;
            }
        }
        Ok(CathodeMap { maps })
    }

    /// The BCD code that shows `digit` on `tube`, or [`BLANK_CODE`] for `None`.
    pub fn code(&self, tube: usize, digit: Option<u8>) -> u8 {
        match digit {
            Some(d) if d < 10 => self.maps[tube][usize::from(d)],
            _ => BLANK_CODE,
        }
    }

    /// The digit a tube shows when the decoder lights `cathode` (inverse map).
    pub fn digit_of(&self, tube: usize, cathode: u8) -> Option<u8> {
        self.maps[tube]
            .iter()
            .position(|&c| c == cathode)
            .map(|d| d as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_lights_only_codes_below_ten() {
        for code in 0..16u8 {
            assert_eq!(k155id1_output(code).is_some(), code < 10);
        }
        assert_eq!(k155id1_output(BLANK_CODE), None);
    }

    #[test]
    fn levels_bits_round_trip() {
        let l = Levels::all_off()
            .with_bcd(7)
            .with(Signal::Anode(2), true)
            .with(Signal::Colon, true);
        assert_eq!(l.bcd(), 7);
        assert_eq!(l.anodes(), 0b0100);
        assert_eq!(l.lit_tube(), Some(2));
        assert!(l.get(Signal::Colon));
        assert!(!l.get(Signal::HvEnable));
        assert_eq!(l.without_anodes().anodes(), 0);
        assert_eq!(l.without_anodes().bcd(), 7);
        for s in Signal::ALL {
            assert!(Levels(0).with(s, true).get(s));
        }
    }

    #[test]
    fn cathode_map_rejects_non_permutations() {
        let mut m = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]; TUBES];
        m[2][5] = 4;
        let e = CathodeMap::new(m).unwrap_err();
        assert!(e.contains("tube 3") && e.contains("twice"), "{e}");
        m[2][5] = 12;
        assert!(CathodeMap::new(m).unwrap_err().contains("not a cathode"));
    }

    #[test]
    fn cathode_map_is_invertible() {
        let mut m = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]; TUBES];
        m[1] = [1, 0, 9, 8, 7, 6, 5, 4, 3, 2];
        let map = CathodeMap::new(m).unwrap();
        for t in 0..TUBES {
            for d in 0..10 {
                let code = map.code(t, Some(d));
                assert_eq!(map.digit_of(t, code), Some(d));
            }
            assert_eq!(map.code(t, None), BLANK_CODE);
        }
        assert_eq!(map.code(1, Some(0)), 1);
    }
}
