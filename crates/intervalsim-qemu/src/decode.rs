//! Static decoding: each guest instruction is decoded once, when QEMU translates its block.
//!
//! [`BlockDecoder::decode_block`] turns the bytes of a translation block into a [`TbInfo`]: per instruction its
//! address, length, functional class, branch kind, registers read and written (in ChampSim's
//! register numbering, which the timing model shares) and whether it is one of the ROI markers.
//! The hot path later only copies these templates and fills in what is dynamic: memory addresses
//! and branch outcomes.

use iced_x86::{
    CpuidFeature, Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory,
    Mnemonic, OpAccess, OpKind, Register, RflagsBits,
};

use crate::record::{BranchKind, Kind, MAX_DST, MAX_SRC};

/// Register id of the stack pointer (ChampSim/Pin numbering).
pub const REG_RSP: u8 = 6;
/// Register id of the flags register (ChampSim/Pin numbering).
pub const REG_FLAGS: u8 = 25;
/// Register id of the instruction pointer (ChampSim/Pin numbering).
pub const REG_RIP: u8 = 26;

/// Region-of-interest marker carried by an instruction.
///
/// The markers are architectural no-ops, so a program runs unchanged with or without the plugin:
/// `xchg %bx,%bx` begins the region of interest and `xchg %cx,%cx` ends it (16-bit exchanges of a
/// register with itself change nothing, not even the upper register bits or the flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Marker {
    /// An ordinary instruction.
    #[default]
    None,
    /// `xchg %bx,%bx`: the region of interest begins after this instruction.
    RoiBegin,
    /// `xchg %cx,%cx`: the region of interest ends before this instruction.
    RoiEnd,
}

/// What is known about one instruction before it runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StaticInsn {
    /// Address of the instruction.
    pub pc: u64,
    /// Length in bytes.
    pub len: u8,
    /// Functional class.
    pub kind: Kind,
    /// Branch kind (`None` unless the instruction transfers control).
    pub branch: BranchKind,
    /// Registers read, ChampSim numbering, 0 = unused slot.
    pub src: [u8; MAX_SRC],
    /// Registers written, ChampSim numbering, 0 = unused slot.
    pub dst: [u8; MAX_DST],
    /// Number of memory reads the decoder expects (explicit and implicit operands).
    pub loads: u8,
    /// Number of memory writes the decoder expects.
    pub stores: u8,
    /// ROI marker, if the instruction is one.
    pub marker: Marker,
}

/// Static information about one translation block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TbInfo {
    /// Address of the first instruction.
    pub pc: u64,
    /// The instructions, in order.
    pub insns: Box<[StaticInsn]>,
    /// True when some instruction of the block is an ROI marker (checked once per block).
    pub has_marker: bool,
}

impl TbInfo {
    /// Number of instructions.
    #[inline]
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Whether the block has no instructions (QEMU never produces one; kept for completeness).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Address of the instruction after the block's last one.
    #[inline]
    pub fn fallthrough(&self) -> u64 {
        self.insns
            .last()
            .map_or(self.pc, |i| i.pc + u64::from(i.len))
    }
}

/// Decodes instructions with one reusable iced-x86 info factory.
pub struct BlockDecoder {
    factory: InstructionInfoFactory,
}

impl Default for BlockDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockDecoder {
    /// A new decoder.
    pub fn new() -> Self {
        BlockDecoder {
            factory: InstructionInfoFactory::new(),
        }
    }

    /// Decode one instruction located at `pc` from `bytes` (exactly the instruction's bytes as
    /// QEMU reports them, or more). An undecodable instruction becomes `Kind::Other` with the
    /// length QEMU gave; QEMU would have raised #UD for it anyway.
    pub fn decode_insn(&mut self, pc: u64, bytes: &[u8]) -> StaticInsn {
        let mut decoder = Decoder::with_ip(64, bytes, pc, DecoderOptions::NONE);
        let instr = decoder.decode();
        let qemu_len = u8::try_from(bytes.len()).unwrap_or(u8::MAX);
        if instr.is_invalid() {
            return StaticInsn {
                pc,
                len: qemu_len,
                kind: Kind::Other,
                ..StaticInsn::default()
            };
        }
        let len = u8::try_from(instr.len()).unwrap_or(qemu_len);
        let branch = branch_kind(&instr);
        let marker = marker(&instr);
        let info = self.factory.info(&instr);

        let mut src = RegSet::<MAX_SRC>::default();
        let mut dst = RegSet::<MAX_DST>::default();
        for used in info.used_registers() {
            let Some(id) = register_id(used.register()) else {
                continue;
            };
            match used.access() {
                OpAccess::Read | OpAccess::CondRead => src.push(id),
                OpAccess::Write | OpAccess::CondWrite => dst.push(id),
                OpAccess::ReadWrite | OpAccess::ReadCondWrite => {
                    src.push(id);
                    dst.push(id);
                }
                OpAccess::None | OpAccess::NoMemAccess => {}
            }
        }
        // Flags last: a data register matters more to dependences when slots run out.
        if instr.rflags_read() & !RflagsBits::AC != 0 {
            src.push(REG_FLAGS);
        }
        if instr.rflags_modified() != 0 {
            dst.push(REG_FLAGS);
        }
        if branch != BranchKind::None {
            dst.push(REG_RIP);
        }

        let (mut loads, mut stores) = (0u8, 0u8);
        for mem in info.used_memory() {
            match mem.access() {
                OpAccess::Read | OpAccess::CondRead => loads = loads.saturating_add(1),
                OpAccess::Write | OpAccess::CondWrite => stores = stores.saturating_add(1),
                OpAccess::ReadWrite | OpAccess::ReadCondWrite => {
                    loads = loads.saturating_add(1);
                    stores = stores.saturating_add(1);
                }
                OpAccess::None | OpAccess::NoMemAccess => {}
            }
        }
        let kind = classify(&instr, branch, loads > 0, stores > 0);
        StaticInsn {
            pc,
            len,
            kind,
            branch,
            src: src.regs,
            dst: dst.regs,
            loads,
            stores,
            marker,
        }
    }

    /// Decode a whole block from its instructions' `(pc, bytes)`.
    pub fn decode_block<'a>(&mut self, insns: impl IntoIterator<Item = (u64, &'a [u8])>) -> TbInfo {
        let insns: Box<[StaticInsn]> = insns
            .into_iter()
            .map(|(pc, bytes)| self.decode_insn(pc, bytes))
            .collect();
        TbInfo {
            pc: insns.first().map_or(0, |i| i.pc),
            has_marker: insns.iter().any(|i| i.marker != Marker::None),
            insns,
        }
    }
}

/// A fixed-capacity set of register ids (duplicates and overflow dropped).
struct RegSet<const N: usize> {
    regs: [u8; N],
    n: usize,
}

impl<const N: usize> Default for RegSet<N> {
    fn default() -> Self {
        RegSet { regs: [0; N], n: 0 }
    }
}

impl<const N: usize> RegSet<N> {
    fn push(&mut self, id: u8) {
        if self.n < N && !self.regs[..self.n].contains(&id) {
            self.regs[self.n] = id;
            self.n += 1;
        }
    }
}

/// ChampSim (Pin) register id of a register, `None` for registers that carry no dependences
/// worth modelling (segment, control, debug registers, RIP as an address base).
pub fn register_id(reg: Register) -> Option<u8> {
    if reg == Register::None || reg.is_ip() {
        return None;
    }
    let full = reg.full_register();
    if full.is_gpr64() {
        // Pin order: rdi rsi rbp rsp rbx rdx rcx rax r8..r15 = 3..18.
        let id = match full {
            Register::RDI => 3,
            Register::RSI => 4,
            Register::RBP => 5,
            Register::RSP => REG_RSP,
            Register::RBX => 7,
            Register::RDX => 8,
            Register::RCX => 9,
            Register::RAX => 10,
            other => 11 + (other.number() as u8).saturating_sub(8),
        };
        return Some(id);
    }
    if full.is_vector_register() {
        return Some(32 + (full.number() as u8 & 31));
    }
    if reg.is_st() {
        return Some(64 + (reg.number() as u8 & 7));
    }
    if reg.is_mm() {
        // MMX registers alias the x87 stack.
        return Some(64 + (reg.number() as u8 & 7));
    }
    if reg.is_k() {
        return Some(72 + (reg.number() as u8 & 7));
    }
    None
}

fn branch_kind(instr: &Instruction) -> BranchKind {
    // System calls and software interrupts return to the next instruction in user mode.
    if is_system_call(instr) {
        return BranchKind::None;
    }
    match instr.flow_control() {
        FlowControl::ConditionalBranch => BranchKind::Conditional,
        FlowControl::UnconditionalBranch => BranchKind::DirectJump,
        FlowControl::IndirectBranch => BranchKind::Indirect,
        FlowControl::Call => BranchKind::DirectCall,
        FlowControl::IndirectCall => BranchKind::IndirectCall,
        FlowControl::Return => BranchKind::Return,
        FlowControl::Next
        | FlowControl::Interrupt
        | FlowControl::XbeginXabortXend
        | FlowControl::Exception => BranchKind::None,
    }
}

fn is_system_call(instr: &Instruction) -> bool {
    matches!(
        instr.mnemonic(),
        Mnemonic::Syscall | Mnemonic::Sysenter | Mnemonic::Int | Mnemonic::Int1 | Mnemonic::Int3
    ) || instr.flow_control() == FlowControl::Interrupt
}

fn marker(instr: &Instruction) -> Marker {
    if instr.mnemonic() == Mnemonic::Xchg
        && instr.op_count() == 2
        && instr.op0_kind() == OpKind::Register
        && instr.op1_kind() == OpKind::Register
        && instr.op0_register() == instr.op1_register()
    {
        return match instr.op0_register() {
            Register::BX => Marker::RoiBegin,
            Register::CX => Marker::RoiEnd,
            _ => Marker::None,
        };
    }
    Marker::None
}

fn uses_fp_registers(instr: &Instruction) -> bool {
    (0..instr.op_count()).any(|i| {
        instr.op_kind(i) == OpKind::Register && {
            let r = instr.op_register(i);
            r.is_vector_register() || r.is_st() || r.is_mm()
        }
    }) || is_x87(instr)
}

fn is_x87(instr: &Instruction) -> bool {
    // x87 memory forms (fld m64 …) have no register operand but are FP work.
    instr.cpuid_features().iter().any(|f| {
        matches!(
            f,
            CpuidFeature::FPU | CpuidFeature::FPU287 | CpuidFeature::FPU387
        )
    })
}

/// Functional class, in priority order: control transfer, serialising, divide, multiply,
/// memory write, memory read, floating point/vector, no-op, integer.
fn classify(instr: &Instruction, branch: BranchKind, load: bool, store: bool) -> Kind {
    use Mnemonic as M;
    let m = instr.mnemonic();
    if branch != BranchKind::None {
        return Kind::Branch;
    }
    let locked_rmw = instr.has_lock_prefix() || (m == M::Xchg && (load || store));
    if locked_rmw
        || is_system_call(instr)
        || instr.flow_control() == FlowControl::XbeginXabortXend
        || matches!(
            m,
            M::Cpuid | M::Lfence | M::Mfence | M::Sfence | M::Rdtscp | M::Serialize | M::Xgetbv
        )
    {
        return Kind::Serial;
    }
    if matches!(
        m,
        M::Div
            | M::Idiv
            | M::Divss
            | M::Divsd
            | M::Divps
            | M::Divpd
            | M::Vdivss
            | M::Vdivsd
            | M::Vdivps
            | M::Vdivpd
            | M::Sqrtss
            | M::Sqrtsd
            | M::Sqrtps
            | M::Sqrtpd
            | M::Vsqrtss
            | M::Vsqrtsd
            | M::Vsqrtps
            | M::Vsqrtpd
            | M::Fdiv
            | M::Fdivp
            | M::Fdivr
            | M::Fdivrp
            | M::Fidiv
            | M::Fidivr
            | M::Fsqrt
    ) {
        return Kind::Div;
    }
    if matches!(m, M::Mul | M::Imul | M::Mulx) {
        return Kind::Mul;
    }
    if store {
        return Kind::Store;
    }
    if load {
        return Kind::Load;
    }
    if uses_fp_registers(instr) {
        return Kind::Fp;
    }
    if matches!(m, M::Nop | M::Endbr64 | M::Pause | M::Fnop)
        || instr.flow_control() == FlowControl::Exception
    {
        return Kind::Other;
    }
    Kind::Int
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> StaticInsn {
        BlockDecoder::new().decode_insn(0x1000, bytes)
    }

    #[test]
    fn alu_register_dependences_use_champsim_ids() {
        // add rax, rbx
        let i = one(&[0x48, 0x01, 0xd8]);
        assert_eq!(i.len, 3);
        assert_eq!(i.kind, Kind::Int);
        assert!(i.src.contains(&10) && i.src.contains(&7), "{:?}", i.src);
        assert_eq!(i.dst, [10, REG_FLAGS]);
    }

    #[test]
    fn loads_stores_and_stack_operations() {
        // mov rax, [rbx+rcx*8]
        let i = one(&[0x48, 0x8b, 0x04, 0xcb]);
        assert_eq!((i.kind, i.loads, i.stores), (Kind::Load, 1, 0));
        assert!(i.src.contains(&7) && i.src.contains(&9));
        // mov [rdi], esi
        let i = one(&[0x89, 0x37]);
        assert_eq!((i.kind, i.loads, i.stores), (Kind::Store, 0, 1));
        // push rbp: writes the stack, reads and writes rsp
        let i = one(&[0x55]);
        assert_eq!((i.kind, i.stores), (Kind::Store, 1));
        assert!(i.src.contains(&REG_RSP) && i.dst.contains(&REG_RSP));
    }

    #[test]
    fn branches_are_classified() {
        assert_eq!(one(&[0x74, 0x05]).branch, BranchKind::Conditional); // je
        assert_eq!(one(&[0xeb, 0x05]).branch, BranchKind::DirectJump); // jmp rel8
        assert_eq!(one(&[0xff, 0xe0]).branch, BranchKind::Indirect); // jmp rax
        assert_eq!(one(&[0xe8, 0, 0, 0, 0]).branch, BranchKind::DirectCall);
        assert_eq!(one(&[0xff, 0xd0]).branch, BranchKind::IndirectCall); // call rax
        let ret = one(&[0xc3]);
        assert_eq!(
            (ret.kind, ret.branch, ret.loads),
            (Kind::Branch, BranchKind::Return, 1)
        );
        let je = one(&[0x74, 0x05]);
        assert!(je.src.contains(&REG_FLAGS));
    }

    #[test]
    fn functional_classes() {
        assert_eq!(one(&[0x48, 0xf7, 0xf1]).kind, Kind::Div); // div rcx
        assert_eq!(one(&[0x48, 0x0f, 0xaf, 0xc1]).kind, Kind::Mul); // imul rax, rcx
        assert_eq!(one(&[0xf2, 0x0f, 0x58, 0xc1]).kind, Kind::Fp); // addsd xmm0, xmm1
        assert_eq!(one(&[0x0f, 0xa2]).kind, Kind::Serial); // cpuid
        assert_eq!(one(&[0x0f, 0x05]).kind, Kind::Serial); // syscall
        assert_eq!(one(&[0xf0, 0x48, 0x0f, 0xb1, 0x0f]).kind, Kind::Serial); // lock cmpxchg
        assert_eq!(one(&[0x90]).kind, Kind::Other); // nop
        assert_eq!(one(&[0xdd, 0x03]).kind, Kind::Load); // fld qword [rbx]
        assert_eq!(one(&[0xd8, 0xc1]).kind, Kind::Fp); // fadd st, st(1)
    }

    #[test]
    fn roi_markers_are_16_bit_self_exchanges() {
        assert_eq!(one(&[0x66, 0x87, 0xdb]).marker, Marker::RoiBegin); // xchg bx,bx
        assert_eq!(one(&[0x66, 0x87, 0xc9]).marker, Marker::RoiEnd); // xchg cx,cx
        assert_eq!(one(&[0x48, 0x87, 0xdb]).marker, Marker::None); // xchg rbx,rbx
        assert_eq!(one(&[0x66, 0x87, 0xd9]).marker, Marker::None); // xchg cx,bx
    }

    #[test]
    fn blocks_know_their_fallthrough_and_markers() {
        let code: [(u64, &[u8]); 3] = [
            (0x400, &[0x48, 0x01, 0xd8]),
            (0x403, &[0x66, 0x87, 0xdb]),
            (0x406, &[0x74, 0x05]),
        ];
        let tb = BlockDecoder::new().decode_block(code);
        assert_eq!((tb.pc, tb.len(), tb.fallthrough()), (0x400, 3, 0x408));
        assert!(tb.has_marker);
    }

    #[test]
    fn undecodable_bytes_keep_qemu_length() {
        assert_eq!(one(&[0x0f, 0x0b]).kind, Kind::Other); // ud2
        let t = one(&[0x48]); // lone REX prefix
        assert_eq!((t.kind, t.len), (Kind::Other, 1));
    }
}
