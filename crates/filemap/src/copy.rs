//! Copies to and from memory that other processes may write at the same time.
//!
//! Rust's memory model makes a plain (or volatile) access that races with a write a data
//! race, which is undefined behaviour, and it leaves atomic accesses of different sizes
//! to the same bytes undefined too. Memory shared with another process is written by code
//! that Rust's model does not see, so every copy the safe API makes of a message or of a
//! view's bytes runs in one routine written in assembly (x86_64): what it reads while
//! another process writes is what the hardware gives, a mix of old and new bytes, never
//! undefined behaviour. The routine is an ordinary function with known start and end
//! addresses, the shape a fault handler needs to turn a fault inside it into an error.
//! The one exception is the small value of a synchronisation object (`SharedMutex`, at
//! most [`SMALL`] bytes), copied with relaxed atomic words ([`load_small`],
//! [`store_small`]) in memory whose loss the fault handler repairs wherever it happens.
//!
//! Ordering: the routine is opaque to the compiler (it may read and write any memory), so
//! it stays between the atomic operations around it. On x86_64 ordinary loads and stores
//! are not reordered with later stores, and the stores of a string operation (`rep movsb`),
//! though unordered among themselves, are not reordered with the stores after it. So a
//! release store after a copy publishes the copied bytes, and bytes copied after an
//! acquire load are at least as new as what it observed: callers publish and observe
//! copied bytes with their own release and acquire atomics (the channel's commit tag, a
//! mutex), exactly as with relaxed accesses.
//!
//! On other architectures the copies fall back to relaxed byte-sized atomic accesses: sound
//! among themselves, slower, and of another size than [`View::atomic_u32`]-style accesses
//! to the same bytes (see `docs/architecture.md`).
//!
//! [`View::atomic_u32`]: crate::View::atomic_u32

/// Asks the processor to start loading the cache line at `at` into its caches: a hint that
/// reads nothing a program can observe and never faults, whatever the address. A receiver
/// that has just seen a frame committed, whose payload is on the next line, calls it so
/// that the line's transfer from the writer's core overlaps the checks before the copy.
#[inline(always)]
pub(crate) fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE, which the instruction needs, is part of every x86_64 processor; a
    // prefetch reads no memory the program sees and never faults, for any address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Copies `len` bytes from `src` to `dst`, either of which may be shared memory that other
/// processes write meanwhile. `shared` is the address range a fault may be reported for:
/// the mapping's side of the copy (a fault in the caller's own memory is not filemap's to
/// turn into an error, and goes to whoever handled such faults before).
///
/// # Safety
/// `src` must be valid for reads and `dst` for writes of `len` bytes for the duration of
/// the call, and neither may overlap memory that Rust code holds a reference to other than
/// through `UnsafeCell`s (a shared mapping is such memory at most through atomics: it is
/// reached through raw pointers, and the ring's control words through `&AtomicU64`, which
/// another process may write meanwhile whatever this one does).
pub(crate) unsafe fn copy_racy(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    shared: std::ops::Range<usize>,
) -> Result<(), Fault> {
    if len == 0 {
        return Ok(());
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller guarantees both ranges are valid for `len` bytes; the routine
    // reads exactly `src..src+len` and writes exactly `dst..dst+len`, and follows the
    // System V calling convention it is declared with (it clobbers only rax, rcx, rdx,
    // rsi, rdi and xmm0 to xmm7 (ymm0 to ymm7 in the AVX one, zmm0 to zmm7 in the AVX-512
    // one, each run only where the processor and the system support those registers, and
    // both clear the upper halves before they return), all caller-saved there, uses no
    // stack, and leaves the direction flag clear).
    let faulted = unsafe {
        if !std::arch::is_x86_feature_detected!("avx") {
            filemap_copy_racy(dst, src, len, 0, shared.start, shared.end)
        } else if len >= 4096 && std::arch::is_x86_feature_detected!("avx512f") {
            filemap_copy_racy_avx512(dst, src, len, 0, shared.start, shared.end)
        } else {
            filemap_copy_racy_avx(dst, src, len, 0, shared.start, shared.end)
        }
    };
    #[cfg(target_arch = "x86_64")]
    return match faulted {
        0 => Ok(()),
        address => Err(Fault { address }),
    };
    // (No fault handler to tell the range to on other architectures.)
    #[cfg(not(target_arch = "x86_64"))]
    let _ = shared;
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: as above; each byte is a relaxed atomic access, which may race with other
    // processes' writes.
    unsafe {
        use std::sync::atomic::{AtomicU8, Ordering};
        for i in 0..len {
            let b = (*src.add(i).cast::<AtomicU8>()).load(Ordering::Relaxed);
            (*dst.add(i).cast::<AtomicU8>()).store(b, Ordering::Relaxed);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    Ok(())
}

/// The largest value [`load_small`] and [`store_small`] copy.
pub(crate) const SMALL: usize = 64;

/// Makes room in `buf` for a copy of `len` bytes out of shared memory: an error, not an
/// abort, when this process cannot hold them (a copy of a large view, a message of a large
/// ring). `what` says what the copy was of.
pub(crate) fn reserve_for_copy(buf: &mut Vec<u8>, len: usize, what: &str) -> crate::Result<()> {
    buf.try_reserve(len).map_err(|_| crate::Error::NoSpace {
        place: format!("this process's memory (a copy of {what})"),
        size: (buf.len() as u64).saturating_add(len as u64),
    })
}

/// Copies a small value (at most [`SMALL`] bytes) from shared memory at `src` into `dst`
/// with relaxed atomic loads, a word at a time where `src` is 8-aligned: for the values of
/// synchronisation objects, where a call into the copy routine costs more than the copy
/// (a `SharedMutex<u64>`'s lock and unlock cost 2.1× a raw robust pthread mutex's with it, 1.65×
/// with this: `filemap-bench --sections 4`). It does
/// not report faults itself: the memory must be an area the fault handler rescues (`sys`:
/// a fault there becomes zeros and marks the area lost, which the caller checks after).
///
/// # Safety
/// `src` must be valid for reads of `dst.len()` bytes for the duration of the call and
/// 8-aligned where it holds words (any address works, a byte at a time otherwise), the
/// area a rescued one (or one that cannot be cut short, as on Windows), and every access
/// this process makes to those bytes meanwhile one of [`load_small`] and [`store_small`]
/// with the same address and length (so of the same sizes: atomics of different sizes
/// racing on the same bytes would be undefined behaviour).
#[inline]
pub(crate) unsafe fn load_small(src: *const u8, dst: &mut [u8]) {
    use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
    debug_assert!(dst.len() <= SMALL);
    let words = if (src as usize) % 8 == 0 {
        dst.len() / 8
    } else {
        0
    };
    for (i, chunk) in dst.chunks_exact_mut(8).take(words).enumerate() {
        // SAFETY: 8-aligned and in bounds (the caller's contract); other processes' writes
        // are not this process's accesses, and this one's are all of this size here.
        let word = unsafe { (*src.add(i * 8).cast::<AtomicU64>()).load(Ordering::Relaxed) };
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    for (i, byte) in dst.iter_mut().enumerate().skip(words * 8) {
        // SAFETY: in bounds (the caller's contract); as above.
        *byte = unsafe { (*src.add(i).cast::<AtomicU8>()).load(Ordering::Relaxed) };
    }
}

/// Copies a small value (at most [`SMALL`] bytes) into shared memory at `dst` with relaxed
/// atomic stores, the counterpart of [`load_small`].
///
/// # Safety
/// As for [`load_small`], with `dst` valid for writes of `src.len()` bytes.
#[inline]
pub(crate) unsafe fn store_small(dst: *mut u8, src: &[u8]) {
    use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
    debug_assert!(src.len() <= SMALL);
    let words = if (dst as usize) % 8 == 0 {
        src.len() / 8
    } else {
        0
    };
    for (i, chunk) in src.chunks_exact(8).take(words).enumerate() {
        let word = u64::from_ne_bytes(chunk.try_into().unwrap_or_default());
        // SAFETY: as in `load_small`.
        unsafe { (*dst.add(i * 8).cast::<AtomicU64>()).store(word, Ordering::Relaxed) };
    }
    for (i, &byte) in src.iter().enumerate().skip(words * 8) {
        // SAFETY: as in `load_small`.
        unsafe { (*dst.add(i).cast::<AtomicU8>()).store(byte, Ordering::Relaxed) };
    }
}

/// Copies from shared memory at `src` into `dst`.
///
/// # Safety
/// `src` must be valid for reads of `dst.len()` bytes for the duration of the call.
pub(crate) unsafe fn copy_from_shared(src: *const u8, dst: &mut [u8]) -> Result<(), Fault> {
    let shared = src as usize..src as usize + dst.len();
    // SAFETY: `dst` is a unique borrow, valid for its length; the caller vouches for `src`.
    unsafe { copy_racy(dst.as_mut_ptr(), src, dst.len(), shared) }
}

/// Copies `src` into shared memory at `dst`.
///
/// # Safety
/// `dst` must be valid for writes of `src.len()` bytes for the duration of the call.
pub(crate) unsafe fn copy_to_shared(dst: *mut u8, src: &[u8]) -> Result<(), Fault> {
    // SAFETY: `src` is a borrow valid for its length that nothing writes meanwhile (a
    // shared borrow of memory Rust owns); the caller vouches for `dst`.
    unsafe {
        copy_racy(
            dst,
            src.as_ptr(),
            src.len(),
            dst as usize..dst as usize + src.len(),
        )
    }
}

#[cfg(target_arch = "x86_64")]
unsafe extern "sysv64" {
    /// The copy routine below: `dst` in rdi, `src` in rsi, `len` in rdx; 0 in rax when it
    /// copied everything, the faulting address (or 1) when a fault handler stopped it. The
    /// routine never touches rcx's argument (unused: `rep movsb` takes rcx) nor r8 and r9,
    /// where the fault handler finds the range of addresses it may claim faults for.
    fn filemap_copy_racy(
        dst: *mut u8,
        src: *const u8,
        len: usize,
        unused: usize,
        shared_start: usize,
        shared_end: usize,
    ) -> usize;
    /// The same with 32-byte AVX moves, for processors that have them.
    fn filemap_copy_racy_avx(
        dst: *mut u8,
        src: *const u8,
        len: usize,
        unused: usize,
        shared_start: usize,
        shared_end: usize,
    ) -> usize;
    /// The same with 64-byte AVX-512 moves for 4 KiB-aliased copies, for processors that
    /// have them.
    fn filemap_copy_racy_avx512(
        dst: *mut u8,
        src: *const u8,
        len: usize,
        unused: usize,
        shared_start: usize,
        shared_end: usize,
    ) -> usize;
    fn filemap_copy_racy_end();
    fn filemap_copy_racy_fault();
    fn filemap_copy_racy_avx_fault();
}

/// A copy stopped by a fault (the type the word routines share).
pub(crate) use crate::word::Fault;

/// Where the copy routines' code lies, and where a fault inside each resumes: `(start,
/// end, resume)` for the SSE routine (with the shared `rep movsb` path) and the AVX and
/// AVX-512 ones (which share their exit, as they share their code for short copies).
/// A process-wide fault handler (`sys`) that sees a fault with the instruction pointer in
/// `start..end`, at an address inside the range in r8..r9 (the mapping's side of the copy),
/// sets the instruction pointer to `resume` and puts the faulting address in rax; the
/// routine then returns it, and the copy reports a [`Fault`] instead of the process dying.
/// The word-sized atomic routines of `crate::word` are the third range (their fault exit
/// returns the address in rdx instead).
#[cfg(target_arch = "x86_64")]
pub(crate) fn guarded_ranges() -> [(usize, usize, usize); 3] {
    let sse = filemap_copy_racy as *const () as usize;
    let avx = filemap_copy_racy_avx as *const () as usize;
    [
        (sse, avx, filemap_copy_racy_fault as *const () as usize),
        (
            avx,
            filemap_copy_racy_end as *const () as usize,
            filemap_copy_racy_avx_fault as *const () as usize,
        ),
        crate::word::guarded_range(),
    ]
}

// The copy routine. From 4096 bytes on, `rep movsb`, which processors with fast short
// string moves (ERMSB/FSRM) run at memcpy's speed (except where the destination is 1 to 63
// bytes past the source modulo 4096: the AVX and AVX-512 routines copy those with vector
// moves); below that, 64 bytes at a time in four
// unaligned SSE moves, then 16, then 8, then single bytes (`rep movsb` costs a few dozen
// cycles to start, which shows on messages of a kilobyte). Every access lies inside
// [src, src+len) or [dst, dst+len). `filemap_copy_racy_end` marks where the code ends.
#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl filemap_copy_racy",
    ".globl filemap_copy_racy_end",
    "filemap_copy_racy:",
    "    cmp rdx, 4096",
    "    jae .Lfilemap_copy_rep",
    "    cmp rdx, 128",
    "    jb .Lfilemap_copy_16",
    ".Lfilemap_copy_128:",
    "    movups xmm0, xmmword ptr [rsi]",
    "    movups xmm1, xmmword ptr [rsi + 16]",
    "    movups xmm2, xmmword ptr [rsi + 32]",
    "    movups xmm3, xmmword ptr [rsi + 48]",
    "    movups xmm4, xmmword ptr [rsi + 64]",
    "    movups xmm5, xmmword ptr [rsi + 80]",
    "    movups xmm6, xmmword ptr [rsi + 96]",
    "    movups xmm7, xmmword ptr [rsi + 112]",
    "    movups xmmword ptr [rdi], xmm0",
    "    movups xmmword ptr [rdi + 16], xmm1",
    "    movups xmmword ptr [rdi + 32], xmm2",
    "    movups xmmword ptr [rdi + 48], xmm3",
    "    movups xmmword ptr [rdi + 64], xmm4",
    "    movups xmmword ptr [rdi + 80], xmm5",
    "    movups xmmword ptr [rdi + 96], xmm6",
    "    movups xmmword ptr [rdi + 112], xmm7",
    "    add rsi, 128",
    "    add rdi, 128",
    "    sub rdx, 128",
    "    cmp rdx, 128",
    "    jae .Lfilemap_copy_128",
    ".Lfilemap_copy_16:",
    "    cmp rdx, 16",
    "    jb .Lfilemap_copy_8",
    "    movups xmm0, xmmword ptr [rsi]",
    "    movups xmmword ptr [rdi], xmm0",
    "    add rsi, 16",
    "    add rdi, 16",
    "    sub rdx, 16",
    "    jmp .Lfilemap_copy_16",
    ".Lfilemap_copy_8:",
    "    cmp rdx, 8",
    "    jb .Lfilemap_copy_1",
    "    mov rax, qword ptr [rsi]",
    "    mov qword ptr [rdi], rax",
    "    add rsi, 8",
    "    add rdi, 8",
    "    sub rdx, 8",
    ".Lfilemap_copy_1:",
    "    test rdx, rdx",
    "    jz .Lfilemap_copy_done",
    "    mov al, byte ptr [rsi]",
    "    mov byte ptr [rdi], al",
    "    inc rsi",
    "    inc rdi",
    "    dec rdx",
    "    jmp .Lfilemap_copy_1",
    ".Lfilemap_copy_done:",
    "    xor eax, eax",
    "    ret",
    ".Lfilemap_copy_rep:",
    "    mov rcx, rdx",
    "    rep movsb",
    "    xor eax, eax",
    "    ret",
    ".p2align 4",
    ".globl filemap_copy_racy_avx",
    "filemap_copy_racy_avx:",
    "    cmp rdx, 4096",
    "    jb .Lfilemap_copy_avx_below_4k",
    // 4 KiB aliasing: `rep movsb` runs 3 to 8 times slower when the destination is 1 to
    // 63 bytes past the source modulo 4096 (its loads wait on the stores just before
    // them, which look the same to the processor's 4 KiB address check); the loop below
    // loads 256 bytes before it stores any.
    "    mov rax, rdi",
    "    sub rax, rsi",
    "    and eax, 4095",
    "    jz .Lfilemap_copy_rep",
    "    cmp eax, 64",
    "    jae .Lfilemap_copy_rep",
    "    jmp .Lfilemap_copy_avx_256",
    ".Lfilemap_copy_avx_below_4k:",
    "    cmp rdx, 256",
    "    jb .Lfilemap_copy_avx_32",
    ".Lfilemap_copy_avx_256:",
    "    vmovdqu ymm0, ymmword ptr [rsi]",
    "    vmovdqu ymm1, ymmword ptr [rsi + 32]",
    "    vmovdqu ymm2, ymmword ptr [rsi + 64]",
    "    vmovdqu ymm3, ymmword ptr [rsi + 96]",
    "    vmovdqu ymm4, ymmword ptr [rsi + 128]",
    "    vmovdqu ymm5, ymmword ptr [rsi + 160]",
    "    vmovdqu ymm6, ymmword ptr [rsi + 192]",
    "    vmovdqu ymm7, ymmword ptr [rsi + 224]",
    "    vmovdqu ymmword ptr [rdi], ymm0",
    "    vmovdqu ymmword ptr [rdi + 32], ymm1",
    "    vmovdqu ymmword ptr [rdi + 64], ymm2",
    "    vmovdqu ymmword ptr [rdi + 96], ymm3",
    "    vmovdqu ymmword ptr [rdi + 128], ymm4",
    "    vmovdqu ymmword ptr [rdi + 160], ymm5",
    "    vmovdqu ymmword ptr [rdi + 192], ymm6",
    "    vmovdqu ymmword ptr [rdi + 224], ymm7",
    "    add rsi, 256",
    "    add rdi, 256",
    "    sub rdx, 256",
    "    cmp rdx, 256",
    "    jae .Lfilemap_copy_avx_256",
    ".Lfilemap_copy_avx_32:",
    "    cmp rdx, 32",
    "    jb .Lfilemap_copy_avx_tail",
    "    vmovdqu ymm0, ymmword ptr [rsi]",
    "    vmovdqu ymmword ptr [rdi], ymm0",
    "    add rsi, 32",
    "    add rdi, 32",
    "    sub rdx, 32",
    "    jmp .Lfilemap_copy_avx_32",
    ".Lfilemap_copy_avx_tail:",
    "    vzeroupper",
    "    jmp .Lfilemap_copy_16",
    // The AVX-512 routine: the AVX one, but 4 KiB-aliased copies of 4 KiB or more go 512
    // bytes at a time in whole-line moves, which run at `rep movsb`'s unaliased speed
    // where 32-byte moves do not. Its faults resume where the AVX routine's do.
    ".p2align 4",
    ".globl filemap_copy_racy_avx512",
    "filemap_copy_racy_avx512:",
    "    cmp rdx, 4096",
    "    jb .Lfilemap_copy_avx_below_4k",
    "    mov rax, rdi",
    "    sub rax, rsi",
    "    and eax, 4095",
    "    jz .Lfilemap_copy_rep",
    "    cmp eax, 64",
    "    jae .Lfilemap_copy_rep",
    ".Lfilemap_copy_avx512_512:",
    "    vmovdqu64 zmm0, zmmword ptr [rsi]",
    "    vmovdqu64 zmm1, zmmword ptr [rsi + 64]",
    "    vmovdqu64 zmm2, zmmword ptr [rsi + 128]",
    "    vmovdqu64 zmm3, zmmword ptr [rsi + 192]",
    "    vmovdqu64 zmm4, zmmword ptr [rsi + 256]",
    "    vmovdqu64 zmm5, zmmword ptr [rsi + 320]",
    "    vmovdqu64 zmm6, zmmword ptr [rsi + 384]",
    "    vmovdqu64 zmm7, zmmword ptr [rsi + 448]",
    "    vmovdqu64 zmmword ptr [rdi], zmm0",
    "    vmovdqu64 zmmword ptr [rdi + 64], zmm1",
    "    vmovdqu64 zmmword ptr [rdi + 128], zmm2",
    "    vmovdqu64 zmmword ptr [rdi + 192], zmm3",
    "    vmovdqu64 zmmword ptr [rdi + 256], zmm4",
    "    vmovdqu64 zmmword ptr [rdi + 320], zmm5",
    "    vmovdqu64 zmmword ptr [rdi + 384], zmm6",
    "    vmovdqu64 zmmword ptr [rdi + 448], zmm7",
    "    add rsi, 512",
    "    add rdi, 512",
    "    sub rdx, 512",
    "    cmp rdx, 512",
    "    jae .Lfilemap_copy_avx512_512",
    "    jmp .Lfilemap_copy_avx_below_4k",
    "filemap_copy_racy_end:",
    // Where a fault inside a routine resumes (the fault handler moves the instruction
    // pointer here and puts the faulting address, or 1, in rax): return it.
    ".globl filemap_copy_racy_fault",
    ".globl filemap_copy_racy_avx_fault",
    "filemap_copy_racy_fault:",
    "    ret",
    "filemap_copy_racy_avx_fault:",
    "    vzeroupper",
    "    ret",
);

#[cfg(test)]
mod tests {
    use super::{SMALL, load_small, store_small};
    use super::{copy_from_shared, copy_racy, copy_to_shared};

    /// Every length up to `SMALL`, at 8-aligned and unaligned places, both ways, touching
    /// nothing around the value.
    #[test]
    fn small_values_round_trip_at_any_alignment() {
        for offset in [0usize, 8, 1, 3, 7] {
            for len in 0..=SMALL {
                let value: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37) ^ 0x5a).collect();
                let mut memory = vec![u64::from_ne_bytes([0xee; 8]); (SMALL + 32) / 8];
                let base = memory.as_mut_ptr().cast::<u8>();
                // SAFETY: `offset + len` stays inside `memory`, which nothing else uses.
                unsafe { store_small(base.add(offset), &value) };
                let mut back = vec![0u8; len];
                // SAFETY: as above.
                unsafe { load_small(base.add(offset), &mut back) };
                assert_eq!(back, value, "offset {offset}, length {len}");
                let bytes: Vec<u8> = memory.iter().flat_map(|w| w.to_ne_bytes()).collect();
                assert!(bytes[..offset].iter().all(|&b| b == 0xee));
                assert!(bytes[offset + len..].iter().all(|&b| b == 0xee));
            }
        }
    }

    /// Both x86_64 routines, whichever the dispatch picks on this processor.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn both_routines_are_exact() {
        let source: Vec<u8> = (0..8192u32).map(|i| (i * 13 + 5) as u8).collect();
        for (name, routine) in routines() {
            for start in [0, 1, 7, 31] {
                for len in (0..300).chain([1023, 1024, 4095, 4096, 5000]) {
                    let mut target = vec![0xeeu8; 8192 + 64];
                    // SAFETY: both ranges are `len` bytes inside their vectors.
                    let faulted = unsafe {
                        routine(
                            target.as_mut_ptr().add(start),
                            source.as_ptr(),
                            len,
                            0,
                            0,
                            0,
                        )
                    };
                    assert_eq!(faulted, 0, "{name} {len}: no fault, so rax is 0");
                    assert_eq!(&target[start..start + len], &source[..len], "{name} {len}");
                    assert!(target[start + len..].iter().all(|&b| b == 0xee), "{name}");
                }
            }
        }
    }

    /// The x86_64 routines this processor can run.
    #[cfg(target_arch = "x86_64")]
    fn routines() -> Vec<(&'static str, Routine)> {
        let mut all: Vec<(&str, Routine)> = vec![("sse", super::filemap_copy_racy)];
        if std::arch::is_x86_feature_detected!("avx") {
            all.push(("avx", super::filemap_copy_racy_avx));
        } else {
            println!("skipped: the avx routine needs a processor with AVX");
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            all.push(("avx512", super::filemap_copy_racy_avx512));
        } else {
            println!("skipped: the avx512 routine needs a processor with AVX-512");
        }
        all
    }

    #[cfg(target_arch = "x86_64")]
    type Routine =
        unsafe extern "sysv64" fn(*mut u8, *const u8, usize, usize, usize, usize) -> usize;

    /// Copies of 4 KiB and more whose destination lies at every kind of distance from the
    /// source modulo 4096 (the vector loops take 1 to 63, `rep movsb` the others).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn aliased_copies_are_exact() {
        let source: Vec<u8> = (0..20000u32).map(|i| (i * 29 + 11) as u8).collect();
        let page = |p: *const u8| (4096 - p as usize % 4096) % 4096;
        let from = page(source.as_ptr());
        for (name, routine) in routines() {
            for distance in [0, 1, 8, 16, 31, 32, 63, 64, 100, 4095] {
                for len in [4096, 4097, 4608, 5000, 8191, 9000] {
                    let mut target = vec![0xeeu8; 20000];
                    let to = page(target.as_ptr()) + 3 + distance;
                    let (src, dst) = (source[from + 3..].as_ptr(), target[to..].as_mut_ptr());
                    assert_eq!((dst as usize).wrapping_sub(src as usize) % 4096, distance);
                    // SAFETY: both ranges are `len` bytes inside their vectors.
                    let faulted = unsafe { routine(dst, src, len, 0, 0, 0) };
                    assert_eq!(faulted, 0, "{name} {distance} {len}");
                    assert_eq!(
                        &target[to..to + len],
                        &source[from + 3..from + 3 + len],
                        "{name} {distance} {len}"
                    );
                    assert!(target[..to].iter().all(|&b| b == 0xee), "{name} before");
                    assert!(
                        target[to + len..].iter().all(|&b| b == 0xee),
                        "{name} after"
                    );
                }
            }
        }
    }

    #[test]
    fn copies_are_exact_at_every_alignment_and_length() {
        let source: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
        for start in 0..17 {
            for len in (0..80).chain([127, 128, 129, 255, 1000, 1500, 4095, 4096, 4097, 5000]) {
                let mut out = vec![0u8; len];
                // SAFETY: `start + len` is within `source`.
                unsafe { copy_from_shared(source.as_ptr().add(start), &mut out) }.unwrap();
                assert_eq!(out, &source[start..start + len], "from {start}+{len}");
                let mut target = vec![0xeeu8; 8192 + 32];
                // SAFETY: `start + len` is within `target`.
                unsafe { copy_to_shared(target.as_mut_ptr().add(start), &source[..len]) }.unwrap();
                assert_eq!(
                    &target[start..start + len],
                    &source[..len],
                    "to {start}+{len}"
                );
                assert!(target[..start].iter().all(|&b| b == 0xee), "before {start}");
                assert!(target[start + len..].iter().all(|&b| b == 0xee), "after");
                let mut again = vec![0u8; len + 1];
                let (to, from) = (again.as_mut_ptr(), target.as_ptr());
                // SAFETY: both ranges are `len` bytes inside their vectors.
                unsafe { copy_racy(to.add(1), from.add(start), len, 0..0) }.unwrap();
                assert_eq!(&again[1..], &source[..len]);
            }
        }
    }
}
