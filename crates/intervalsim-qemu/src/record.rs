//! The dynamic-instruction record handed to the timing model: intervalsim's own, so records
//! built here go to its cores and trace writers without conversion.

pub use intervalsim::frontend::{BranchKind, Instr, Kind, MAX_DST, MAX_MEM, MAX_SRC};
