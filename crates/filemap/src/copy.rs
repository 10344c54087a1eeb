//! Copies to and from memory that other processes may write at the same time.
//!
//! Rust's memory model makes a plain (or volatile) access that races with a write a data
//! race, which is undefined behaviour, and it leaves atomic accesses of different sizes
//! to the same bytes undefined too. Memory shared with another process is written by code
//! that Rust's model does not see, so every copy the safe API makes runs in one routine
//! written in assembly (x86_64): what it reads while another process writes is what the
//! hardware gives, a mix of old and new bytes, never undefined behaviour. The routine is
//! an ordinary function with known start and end addresses, the shape a fault handler
//! needs to turn a fault inside it into an error.
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

/// Copies `len` bytes from `src` to `dst`, either of which may be shared memory that other
/// processes write meanwhile.
///
/// # Safety
/// `src` must be valid for reads and `dst` for writes of `len` bytes for the duration of
/// the call, and neither may overlap memory that Rust code holds a reference to (a shared
/// mapping is never such memory: it is reached through raw pointers only).
pub(crate) unsafe fn copy_racy(dst: *mut u8, src: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller guarantees both ranges are valid for `len` bytes; the routine
    // reads exactly `src..src+len` and writes exactly `dst..dst+len`, and follows the
    // System V calling convention it is declared with (it clobbers only rax, rcx, rdx,
    // rsi, rdi and xmm0, all caller-saved there, and leaves the direction flag clear).
    unsafe {
        filemap_copy_racy(dst, src, len);
    }
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
}

/// Copies from shared memory at `src` into `dst`.
///
/// # Safety
/// `src` must be valid for reads of `dst.len()` bytes for the duration of the call.
pub(crate) unsafe fn copy_from_shared(src: *const u8, dst: &mut [u8]) {
    // SAFETY: `dst` is a unique borrow, valid for its length; the caller vouches for `src`.
    unsafe { copy_racy(dst.as_mut_ptr(), src, dst.len()) }
}

/// Copies `src` into shared memory at `dst`.
///
/// # Safety
/// `dst` must be valid for writes of `src.len()` bytes for the duration of the call.
pub(crate) unsafe fn copy_to_shared(dst: *mut u8, src: &[u8]) {
    // SAFETY: `src` is a borrow valid for its length that nothing writes meanwhile (a
    // shared borrow of memory Rust owns); the caller vouches for `dst`.
    unsafe { copy_racy(dst, src.as_ptr(), src.len()) }
}

#[cfg(target_arch = "x86_64")]
extern "sysv64" {
    /// The copy routine below: `dst` in rdi, `src` in rsi, `len` in rdx.
    fn filemap_copy_racy(dst: *mut u8, src: *const u8, len: usize);
}

// The copy routine. Short copies move 16 bytes at a time (unaligned SSE moves), then 8,
// then single bytes; from 512 bytes on, `rep movsb`, which this processor generation runs
// at memcpy's speed. Every access lies inside [src, src+len) or [dst, dst+len).
// `filemap_copy_racy_end` marks where the routine's code ends.
#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl filemap_copy_racy",
    ".globl filemap_copy_racy_end",
    "filemap_copy_racy:",
    "    cmp rdx, 512",
    "    jae .Lfilemap_copy_rep",
    "    cmp rdx, 16",
    "    jb .Lfilemap_copy_8",
    ".Lfilemap_copy_16:",
    "    movups xmm0, xmmword ptr [rsi]",
    "    movups xmmword ptr [rdi], xmm0",
    "    add rsi, 16",
    "    add rdi, 16",
    "    sub rdx, 16",
    "    cmp rdx, 16",
    "    jae .Lfilemap_copy_16",
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
    "    ret",
    ".Lfilemap_copy_rep:",
    "    mov rcx, rdx",
    "    rep movsb",
    "    ret",
    "filemap_copy_racy_end:",
);

#[cfg(test)]
mod tests {
    use super::{copy_from_shared, copy_racy, copy_to_shared};

    #[test]
    fn copies_are_exact_at_every_alignment_and_length() {
        let source: Vec<u8> = (0..2048u32).map(|i| (i * 7 + 3) as u8).collect();
        for start in 0..17 {
            for len in (0..80).chain([255, 256, 511, 512, 513, 1000, 1500]) {
                let mut out = vec![0u8; len];
                // SAFETY: `start + len` is within `source`.
                unsafe { copy_from_shared(source.as_ptr().add(start), &mut out) };
                assert_eq!(out, &source[start..start + len], "from {start}+{len}");
                let mut target = vec![0xeeu8; 2048 + 32];
                // SAFETY: `start + len` is within `target`.
                unsafe { copy_to_shared(target.as_mut_ptr().add(start), &source[..len]) };
                assert_eq!(
                    &target[start..start + len],
                    &source[..len],
                    "to {start}+{len}"
                );
                assert!(target[..start].iter().all(|&b| b == 0xee), "before {start}");
                assert!(target[start + len..].iter().all(|&b| b == 0xee), "after");
                let mut again = vec![0u8; len + 1];
                // SAFETY: both ranges are `len` bytes inside their vectors.
                unsafe { copy_racy(again.as_mut_ptr().add(1), target.as_ptr().add(start), len) };
                assert_eq!(&again[1..], &source[..len]);
            }
        }
    }
}
