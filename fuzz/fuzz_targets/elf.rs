//! ELF headers, program headers and the dynamic section (NEEDED, SONAME, RUNPATH, interpreter).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if distroless::rootfs::elf::is_elf(data) {
        let _ = distroless::rootfs::elf::parse(data);
    }
});
