//! The few ELF facts pivirt needs: the architecture of a binary and a named section's bytes.

use serde::{Deserialize, Serialize};

/// CPU architecture of an image's userland, in Debian's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// 64-bit Arm (AArch64).
    Arm64,
    /// 32-bit Arm, hard-float ABI (Raspberry Pi OS 32-bit, Debian armhf).
    Armhf,
    /// 32-bit Arm, soft-float ABI.
    Armel,
    /// x86-64 (not a Pi image, but worth naming in an error).
    Amd64,
    /// 32-bit x86.
    I386,
}

impl Arch {
    /// Debian's architecture name.
    pub fn debian(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::Armhf => "armhf",
            Arch::Armel => "armel",
            Arch::Amd64 => "amd64",
            Arch::I386 => "i386",
        }
    }
    /// Whether QEMU's Arm machines can run this userland.
    pub fn is_arm(self) -> bool {
        matches!(self, Arch::Arm64 | Arch::Armhf | Arch::Armel)
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.debian())
    }
}

/// Errors from ELF parsing.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// No `\x7fELF` magic.
    #[error("not an ELF file")]
    NotElf,
    /// A machine type pivirt does not know.
    #[error("unknown ELF machine type {0}")]
    UnknownMachine(u16),
    /// The object could not be parsed.
    #[error("bad ELF object: {0}")]
    Bad(String),
}

/// Architecture from an ELF header (`e_ident` class/data, `e_machine`, and for 32-bit Arm the
/// hard-float flag in `e_flags`).
///
/// ```
/// // A minimal little-endian 64-bit AArch64 header.
/// let mut h = vec![0u8; 64];
/// h[..4].copy_from_slice(b"\x7fELF");
/// h[4] = 2; h[5] = 1; h[18] = 183;
/// assert_eq!(pivirt::elf::arch_of(&h).unwrap(), pivirt::elf::Arch::Arm64);
/// ```
pub fn arch_of(header: &[u8]) -> Result<Arch, ElfError> {
    if header.len() < 52 || &header[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    let little = header[5] == 1;
    let u16_at = |o: usize| {
        let b = [header[o], header[o + 1]];
        if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    match u16_at(18) {
        183 => Ok(Arch::Arm64),
        40 => {
            let f = [header[36], header[37], header[38], header[39]];
            let flags = if little {
                u32::from_le_bytes(f)
            } else {
                u32::from_be_bytes(f)
            };
            // EF_ARM_ABI_FLOAT_HARD; EABI5 binaries without it are soft-float.
            if flags & 0x400 != 0 {
                Ok(Arch::Armhf)
            } else {
                Ok(Arch::Armel)
            }
        }
        62 => Ok(Arch::Amd64),
        3 => Ok(Arch::I386),
        m => Err(ElfError::UnknownMachine(m)),
    }
}

/// The bytes of section `name` of an ELF object (e.g. a kernel module's `.modinfo`).
pub fn section(data: &[u8], name: &str) -> Result<Option<Vec<u8>>, ElfError> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(data).map_err(|e| ElfError::Bad(e.to_string()))?;
    match file.section_by_name(name) {
        Some(s) => Ok(Some(
            s.data().map_err(|e| ElfError::Bad(e.to_string()))?.to_vec(),
        )),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(class: u8, machine: u16, flags: u32) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = 1;
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[36..40].copy_from_slice(&flags.to_le_bytes());
        h
    }

    #[test]
    fn arm_flavours() {
        assert_eq!(arch_of(&header(1, 40, 0x0500_0400)).unwrap(), Arch::Armhf);
        assert_eq!(arch_of(&header(1, 40, 0x0500_0200)).unwrap(), Arch::Armel);
        assert_eq!(arch_of(&header(2, 62, 0)).unwrap(), Arch::Amd64);
        assert!(matches!(arch_of(b"#!/bin/sh\n"), Err(ElfError::NotElf)));
        assert!(matches!(
            arch_of(&header(2, 243, 0)),
            Err(ElfError::UnknownMachine(243))
        ));
    }
}
