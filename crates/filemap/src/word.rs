//! Word-sized atomic operations on shared memory that report faults instead of dying.
//!
//! A Rust atomic on a mapped page whose storage is gone raises SIGBUS (an in-page error
//! on Windows) at an instruction the fault handler cannot resume from. These routines do
//! the same operations in assembly (x86_64), inside the code range the handler knows
//! (`crate::copy::guarded_ranges`): a fault in one resumes at [`filemap_word_fault`],
//! which returns the faulting address, and the operation reports a [`Fault`].
//!
//! Orderings: each routine is one instruction on the word. A load is a plain `mov`,
//! which x86_64 orders as an acquire load, and, since every store here is an `xchg` or a
//! `lock`-prefixed instruction (full barriers), also as a sequentially consistent one. So
//! every operation is at least as strong as any `Ordering` a caller asks for; the call is
//! opaque to the compiler, which therefore keeps the caller's memory accesses on their
//! side of it. Other architectures use Rust's atomics with sequential consistency, without
//! the fault guard.

/// What to do with the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WordOp {
    /// Read it.
    Load,
    /// Write `a`; the old value comes back.
    Swap,
    /// Add `a` (wrapping); the old value comes back.
    Add,
    /// Write `b` if it holds `a`; the old value comes back (equal to `a` on success).
    CompareExchange,
}

/// An access stopped by a fault: the memory behind an address it touched could not be had
/// (a file truncated under a mapping, an I/O error, pages made inaccessible). The word
/// routines here and the copy routines of `crate::copy` report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    /// The address the fault was at (1 when the system did not say).
    pub address: usize,
}

/// Does `op` on the 4-byte word at `at`; the value it held before.
///
/// # Safety
/// `at` must be 4-byte aligned and valid for reads (and, unless `op` is `Load`, writes) of
/// 4 bytes for the duration of the call; the memory is reached through raw pointers only.
pub(crate) unsafe fn word32(at: *mut u32, op: WordOp, a: u32, b: u32) -> Result<u32, Fault> {
    #[cfg(target_arch = "x86_64")]
    {
        let routine = match op {
            WordOp::Load => filemap_word_load32 as Routine,
            WordOp::Swap => filemap_word_swap32,
            WordOp::Add => filemap_word_add32,
            WordOp::CompareExchange => filemap_word_cas32,
        };
        // SAFETY: the caller vouches for the word; see `run`.
        unsafe { run(routine, at.cast(), 4, u64::from(a), u64::from(b)) }.map(|v| v as u32)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::atomic::{AtomicU32, Ordering::Relaxed, Ordering::SeqCst, fence};
        // SAFETY: aligned and valid (the caller vouches); any bits are a valid u32.
        let word = unsafe { &*at.cast::<AtomicU32>() };
        Ok(match op {
            // A load may be of read-only memory, where Rust allows relaxed atomic loads
            // only (a stronger one may be a write on some processors): the fence after it
            // gives the order a sequentially consistent load would.
            WordOp::Load => {
                let value = word.load(Relaxed);
                fence(SeqCst);
                value
            }
            WordOp::Swap => word.swap(a, SeqCst),
            WordOp::Add => word.fetch_add(a, SeqCst),
            WordOp::CompareExchange => word
                .compare_exchange(a, b, SeqCst, SeqCst)
                .unwrap_or_else(|v| v),
        })
    }
}

/// Does `op` on the 8-byte word at `at`; the value it held before.
///
/// # Safety
/// As for [`word32`], with an 8-byte aligned, 8-byte word.
pub(crate) unsafe fn word64(at: *mut u64, op: WordOp, a: u64, b: u64) -> Result<u64, Fault> {
    #[cfg(target_arch = "x86_64")]
    {
        let routine = match op {
            WordOp::Load => filemap_word_load64 as Routine,
            WordOp::Swap => filemap_word_swap64,
            WordOp::Add => filemap_word_add64,
            WordOp::CompareExchange => filemap_word_cas64,
        };
        // SAFETY: the caller vouches for the word; see `run`.
        unsafe { run(routine, at.cast(), 8, a, b) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst, fence};
        // SAFETY: aligned and valid (the caller vouches); any bits are a valid u64.
        let word = unsafe { &*at.cast::<AtomicU64>() };
        Ok(match op {
            // A load may be of read-only memory, where Rust allows relaxed atomic loads
            // only (a stronger one may be a write on some processors): the fence after it
            // gives the order a sequentially consistent load would.
            WordOp::Load => {
                let value = word.load(Relaxed);
                fence(SeqCst);
                value
            }
            WordOp::Swap => word.swap(a, SeqCst),
            WordOp::Add => word.fetch_add(a, SeqCst),
            WordOp::CompareExchange => word
                .compare_exchange(a, b, SeqCst, SeqCst)
                .unwrap_or_else(|v| v),
        })
    }
}

/// What a routine returns: the old value in rax, the faulting address (0: none) in rdx.
#[cfg(target_arch = "x86_64")]
#[repr(C)]
struct Outcome {
    value: u64,
    fault: usize,
}

#[cfg(target_arch = "x86_64")]
type Routine = unsafe extern "sysv64" fn(*mut u8, u64, u64, usize, usize, usize) -> Outcome;

/// Runs `routine` on the `width`-byte word at `at`.
///
/// # Safety
/// `at` must be aligned to `width` and valid for the routine's access for the call.
#[cfg(target_arch = "x86_64")]
unsafe fn run(routine: Routine, at: *mut u8, width: usize, a: u64, b: u64) -> Result<u64, Fault> {
    let word = at as usize;
    // SAFETY: the caller vouches for the word. Each routine touches only `width` bytes at
    // `at` (one instruction), follows the System V convention it is declared with (it
    // clobbers only rax and rdx, both caller-saved, uses no stack) and leaves r8 and r9,
    // which carry the range the fault handler may claim a fault in, untouched.
    let outcome = unsafe { routine(at, a, b, 0, word, word + width) };
    match outcome.fault {
        0 => Ok(outcome.value),
        address => Err(Fault { address }),
    }
}

#[cfg(target_arch = "x86_64")]
unsafe extern "sysv64" {
    fn filemap_word_load32(at: *mut u8, a: u64, b: u64, _: usize, s: usize, e: usize) -> Outcome;
    fn filemap_word_load64(at: *mut u8, a: u64, b: u64, _: usize, s: usize, e: usize) -> Outcome;
    fn filemap_word_swap32(at: *mut u8, a: u64, b: u64, _: usize, s: usize, e: usize) -> Outcome;
    fn filemap_word_swap64(at: *mut u8, a: u64, b: u64, _: usize, s: usize, e: usize) -> Outcome;
    fn filemap_word_add32(at: *mut u8, a: u64, b: u64, _: usize, s: usize, e: usize) -> Outcome;
    fn filemap_word_add64(at: *mut u8, a: u64, b: u64, _: usize, s: usize, e: usize) -> Outcome;
    fn filemap_word_cas32(at: *mut u8, a: u64, b: u64, _: usize, s: usize, e: usize) -> Outcome;
    fn filemap_word_cas64(at: *mut u8, a: u64, b: u64, _: usize, s: usize, e: usize) -> Outcome;
    fn filemap_word_end();
    fn filemap_word_fault();
}

/// Where the word routines' code lies and where a fault in them resumes: `(start, end,
/// resume)`, as `crate::copy::guarded_ranges` lists it.
#[cfg(target_arch = "x86_64")]
pub(crate) fn guarded_range() -> (usize, usize, usize) {
    (
        filemap_word_load32 as *const () as usize,
        filemap_word_end as *const () as usize,
        filemap_word_fault as *const () as usize,
    )
}

// The routines, one after the other from `filemap_word_load32` to `filemap_word_end`: the
// word at rdi, `a` in rsi, `b` in rdx; the old value returned in rax, 0 in rdx. The fault
// exit gets the faulting address in rax from the handler and returns it in rdx.
#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl filemap_word_load32",
    ".globl filemap_word_load64",
    ".globl filemap_word_swap32",
    ".globl filemap_word_swap64",
    ".globl filemap_word_add32",
    ".globl filemap_word_add64",
    ".globl filemap_word_cas32",
    ".globl filemap_word_cas64",
    ".globl filemap_word_end",
    ".globl filemap_word_fault",
    "filemap_word_load32:",
    "    mov eax, dword ptr [rdi]",
    "    xor edx, edx",
    "    ret",
    "filemap_word_load64:",
    "    mov rax, qword ptr [rdi]",
    "    xor edx, edx",
    "    ret",
    "filemap_word_swap32:",
    "    mov eax, esi",
    "    xchg dword ptr [rdi], eax",
    "    xor edx, edx",
    "    ret",
    "filemap_word_swap64:",
    "    mov rax, rsi",
    "    xchg qword ptr [rdi], rax",
    "    xor edx, edx",
    "    ret",
    "filemap_word_add32:",
    "    mov eax, esi",
    "    lock xadd dword ptr [rdi], eax",
    "    xor edx, edx",
    "    ret",
    "filemap_word_add64:",
    "    mov rax, rsi",
    "    lock xadd qword ptr [rdi], rax",
    "    xor edx, edx",
    "    ret",
    "filemap_word_cas32:",
    "    mov eax, esi",
    "    lock cmpxchg dword ptr [rdi], edx",
    "    xor edx, edx",
    "    ret",
    "filemap_word_cas64:",
    "    mov rax, rsi",
    "    lock cmpxchg qword ptr [rdi], rdx",
    "    xor edx, edx",
    "    ret",
    "filemap_word_end:",
    "filemap_word_fault:",
    "    mov rdx, rax",
    "    xor eax, eax",
    "    ret",
);

#[cfg(test)]
mod tests {
    use super::{WordOp, word32, word64};

    #[test]
    fn every_operation_does_what_it_says() {
        let mut a: u32 = 5;
        let mut b: u64 = u64::MAX - 1;
        // SAFETY: locals, aligned, reached only through these pointers during the calls.
        unsafe {
            let (pa, pb) = (&mut a as *mut u32, &mut b as *mut u64);
            assert_eq!(word32(pa, WordOp::Load, 0, 0), Ok(5));
            assert_eq!(word32(pa, WordOp::Add, 3, 0), Ok(5));
            assert_eq!(word32(pa, WordOp::Swap, u32::MAX, 0), Ok(8));
            assert_eq!(word32(pa, WordOp::Add, 2, 0), Ok(u32::MAX));
            assert_eq!(word32(pa, WordOp::CompareExchange, 9, 4), Ok(1));
            assert_eq!(word32(pa, WordOp::CompareExchange, 1, 4), Ok(1));
            assert_eq!(word32(pa, WordOp::Load, 0, 0), Ok(4));
            assert_eq!(word64(pb, WordOp::Add, 3, 0), Ok(u64::MAX - 1));
            assert_eq!(word64(pb, WordOp::Load, 0, 0), Ok(1));
            assert_eq!(word64(pb, WordOp::CompareExchange, 1, 1 << 40), Ok(1));
            assert_eq!(word64(pb, WordOp::Swap, 7, 0), Ok(1 << 40));
            assert_eq!(word64(pb, WordOp::Load, 0, 0), Ok(7));
        }
        // The upper half of the 64-bit word next to a 32-bit one is left alone.
        let mut pair = [0u32; 2];
        // SAFETY: a local array, aligned, reached only through this pointer.
        unsafe { word32(pair.as_mut_ptr(), WordOp::Swap, u32::MAX, 0) }.unwrap();
        assert_eq!(pair, [u32::MAX, 0]);
    }
}
