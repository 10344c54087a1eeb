/*
 * bcryptprimitives.dll shim for Wine 8.0 (Debian 12).
 *
 * Rust's std on Windows imports ProcessPrng from bcryptprimitives.dll, which
 * Wine 8.0 does not ship, so every Rust program fails to start under it
 * (exit 53).  This DLL exports ProcessPrng and forwards it to advapi32's
 * RtlGenRandom (exported as SystemFunction036).  It is only used for running
 * the test suite under Wine; see scripts/test-windows.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll shim.c -ladvapi32
 */
#include <windows.h>

/* RtlGenRandom; declared here to avoid depending on ntsecapi.h details. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a ULONG length; fill larger buffers in chunks. */
    while (len > 0) {
        ULONG chunk = len > 0x10000000u ? 0x10000000u : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
