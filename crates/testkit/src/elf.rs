//! The smallest ELF programs a loader would accept the look of: a 64-bit header and one
//! `PT_LOAD` segment, for any machine. They let tests put "an arm64 program" into an image
//! without a cross compiler; they are never run.

/// A statically linked 64-bit little-endian ELF executable for ELF machine `machine`
/// (62 x86-64, 183 arm64, 243 riscv64).
pub fn static_program(machine: u16) -> Vec<u8> {
    let mut b = Vec::with_capacity(120);
    b.extend_from_slice(b"\x7fELF");
    b.extend_from_slice(&[2, 1, 1, 0]); // 64-bit, little-endian, version 1, System V
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b.extend_from_slice(&machine.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes()); // e_version
    b.extend_from_slice(&0x40_0078u64.to_le_bytes()); // e_entry
    b.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    b.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    b.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for half in [64u16, 56, 1, 64, 0, 0] {
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        b.extend_from_slice(&half.to_le_bytes());
    }
    b.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    b.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for word in [0u64, 0x40_0000, 0x40_0000, 120, 120, 0x1000] {
        // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
        b.extend_from_slice(&word.to_le_bytes());
    }
    b
}
