/*
 * ntddk.h - MinGW-w64 cross-build shim (wfpgen.crossbuild).  NOT the WDK.
 *
 * Placed before MinGW's ddk directory on the include path.  It includes MinGW's own
 * ntddk.h and ntifs.h, then adds what generated WFP drivers use and MinGW-w64 10 lacks:
 *   - DbgPrintEx re-declared with a printf format attribute, so that format strings are
 *     checked with Windows (LLP64) type sizes: "%lu" with a UINT64 argument is an error;
 *   - SAL / driver annotations MinGW does not define (_Dispatch_type_ ...);
 *   - FORCEINLINE with the WDK's meaning, and the IO_CSQ_* routine role types;
 *   - POOL_FLAGS, POOL_FLAG_*, ExAllocatePool2 (Windows 10 2004), ExAllocatePoolZero,
 *     ExInitializeDriverRuntime / DrvRtPoolNxOptIn (Windows 8), KeQuerySystemTimePrecise
 *     (Windows 8) and ReadAcquire;
 *   - RtlUshortByteSwap / RtlUlongByteSwap over the compiler's builtins (no CRT to import from).
 *
 * Pulling ntifs.h in here also fixes an include-order trap: MinGW's wdmsec.h #defines
 * RtlInitUnicodeStringEx, which clang then sees re-declared dllimport by ntifs.h.
 *
 * Everything here is for compiling and linking a check artefact on Linux; routines whose
 * WDK version is inline code (ExAllocatePoolZero, ExInitializeDriverRuntime) are simplified
 * stand-ins, described where they are defined.
 */

#ifndef WFPGEN_CROSSBUILD_NTDDK_H
#define WFPGEN_CROSSBUILD_NTDDK_H

/* Declarations the WDK offers only from some Windows version on sit under the same
 * NTDDI_VERSION test here (scripts/compare_shims.py checks each one).  Without one, the
 * newest version these shims describe (Windows 11 22H2), as the WDK assumes its own newest;
 * MinGW-w64 would assume Windows 10 RTM. */
#ifndef NTDDI_VERSION
#define NTDDI_VERSION 0x0A00000C
#endif

#include_next <ntddk.h>
#include <ntifs.h>

/* ---- SAL and driver annotations missing from MinGW's sal.h / driverspecs.h ------------- */

#ifndef _Dispatch_type_
#define _Dispatch_type_(type)
#endif
#ifndef _IRQL_requires_same_
#define _IRQL_requires_same_
#endif
#ifndef _IRQL_always_function_min_
#define _IRQL_always_function_min_(irql)
#endif
#ifndef _IRQL_always_function_max_
#define _IRQL_always_function_max_(irql)
#endif
#ifndef _Interlocked_operand_
#define _Interlocked_operand_
#endif

/* ---- FORCEINLINE ----------------------------------------------------------------------
 * MinGW defines FORCEINLINE as "extern __inline__ __attribute__((gnu_inline))" for its own
 * headers, so the WDK idiom "static FORCEINLINE" is a double storage class.  From here on
 * it is the WDK's meaning (__forceinline: an inlining request, no storage class). */
#undef FORCEINLINE
#define FORCEINLINE __inline__ __attribute__((__always_inline__))

/* ---- Cancel-safe queue role types (wdm.h) -----------------------------------------------
 * MinGW has only the pointer typedefs (PIO_CSQ_INSERT_IRP ...); the WDK also names the
 * function types, so "IO_CSQ_INSERT_IRP MyInsert;" declares a routine. */
#ifndef WFPGEN_HAVE_IO_CSQ_ROLE_TYPES
#define WFPGEN_HAVE_IO_CSQ_ROLE_TYPES
typedef VOID NTAPI IO_CSQ_INSERT_IRP(struct _IO_CSQ *Csq, PIRP Irp);
typedef VOID NTAPI IO_CSQ_REMOVE_IRP(struct _IO_CSQ *Csq, PIRP Irp);
typedef PIRP NTAPI IO_CSQ_PEEK_NEXT_IRP(struct _IO_CSQ *Csq, PIRP Irp, PVOID PeekContext);
typedef VOID NTAPI IO_CSQ_ACQUIRE_LOCK(struct _IO_CSQ *Csq, PKIRQL Irql);
typedef VOID NTAPI IO_CSQ_RELEASE_LOCK(struct _IO_CSQ *Csq, KIRQL Irql);
typedef VOID NTAPI IO_CSQ_COMPLETE_CANCELED_IRP(struct _IO_CSQ *Csq, PIRP Irp);
#endif

/* ---- DbgPrintEx with format checking ---------------------------------------------------
 * Same declaration as MinGW's wdm.h, plus the attribute.  gcc's ms_printf knows the
 * Microsoft conversions (%I64u, %ws ...) and checks sizes as on Windows x64 (long is
 * 32 bits).  clang has no ms_printf; it gets printf, which also uses the target's sizes. */
#if defined(__clang__)
#define WFPGEN_DBGPRINT_FORMAT __attribute__((format(printf, 3, 4)))
#else
#define WFPGEN_DBGPRINT_FORMAT __attribute__((format(ms_printf, 3, 4)))
#endif

NTSYSAPI ULONG __cdecl DbgPrintEx(ULONG ComponentId, ULONG Level, PCSTR Format, ...) WFPGEN_DBGPRINT_FORMAT;

/* ---- Pool: ExAllocatePool2 and POOL_FLAG_* (wdm.h, Windows 10 2004 and later) ----------- */

/* The allocator attributes: gcc pairs the pool allocators with ExFreePoolWithTag; clang (which
 * reads these shims in scripts/compare_shims.py) knows only the plain forms. */
#if defined(__clang__)
#define WFPGEN_POOL_ALLOCATOR __attribute__((malloc, alloc_size(2)))
#else
#define WFPGEN_POOL_ALLOCATOR __attribute__((malloc, malloc(ExFreePoolWithTag, 1), alloc_size(2)))
#endif

#ifndef POOL_FLAG_NON_PAGED
typedef ULONG64 POOL_FLAGS;

#define POOL_FLAG_REQUIRED_START    0x0000000000000001ULL
#define POOL_FLAG_USE_QUOTA         0x0000000000000001ULL
#define POOL_FLAG_UNINITIALIZED     0x0000000000000002ULL
#define POOL_FLAG_SESSION           0x0000000000000004ULL
#define POOL_FLAG_CACHE_ALIGNED     0x0000000000000008ULL
#define POOL_FLAG_RESERVED1         0x0000000000000010ULL
#define POOL_FLAG_RAISE_ON_FAILURE  0x0000000000000020ULL
#define POOL_FLAG_NON_PAGED         0x0000000000000040ULL
#define POOL_FLAG_NON_PAGED_EXECUTE 0x0000000000000080ULL
#define POOL_FLAG_PAGED             0x0000000000000100ULL
#define POOL_FLAG_RESERVED2         0x0000000000000200ULL
#define POOL_FLAG_RESERVED3         0x0000000000000400ULL
#define POOL_FLAG_REQUIRED_END      0x0000000080000000ULL

#endif

/* Exported by ntoskrnl.exe (Windows 10 2004+); the import comes from ntoskrnl_extra.def. */
#if NTDDI_VERSION >= 0x0A000008 /* NTDDI_WIN10_VB */
NTKERNELAPI PVOID NTAPI ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag)
    WFPGEN_POOL_ALLOCATOR;
#endif

/* MinGW's declaration again, now paired with its deallocator so that gcc's
 * -Wuse-after-free / -Wmismatched-dealloc (and -fanalyzer) follow pool memory. */
NTKERNELAPI PVOID NTAPI ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag)
    WFPGEN_POOL_ALLOCATOR;

/* ExInitializeDriverRuntime and DrvRtPoolNxOptIn (wdm.h, Windows 8).  In the WDK this is
 * an inline routine that, with POOL_NX_OPTIN, makes NonPagedPool requests use
 * NonPagedPoolNx on Windows 8 and later.  Stand-in: it does nothing, so a check artefact
 * built here asks for NonPagedPool as written. */
#ifndef DrvRtPoolNxOptIn
#define DrvRtPoolNxOptIn 0x00000001

static __inline__ VOID ExInitializeDriverRuntime(ULONG RuntimeFlags)
{
    (void)RuntimeFlags;
}
#endif

/* ExAllocatePoolZero (wdm.h, WDK for Windows 10 2004 and later): an inline routine over
 * ExAllocatePoolWithTag returning zeroed memory.  Stand-in: allocate, then zero, which is
 * what the WDK's version does on Windows before 10 2004 with POOL_ZERO_DOWN_LEVEL_SUPPORT. */
#ifndef WFPGEN_HAVE_EXALLOCATEPOOLZERO
#define WFPGEN_HAVE_EXALLOCATEPOOLZERO
static __inline__ PVOID ExAllocatePoolZero(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag)
{
    PVOID Entry = ExAllocatePoolWithTag(PoolType, NumberOfBytes, Tag);

    if (Entry != NULL)
    {
        RtlZeroMemory(Entry, NumberOfBytes);
    }
    return Entry;
}
#endif

/* ---- Memory ordering ---------------------------------------------------------------------- */

/* ReadAcquire (wdm.h): an inline routine, a load with acquire semantics (a plain load and a
 * compiler barrier on x64, ldar on ARM64).  Stand-in: the same load through the builtin. */
#ifndef WFPGEN_HAVE_READACQUIRE
#define WFPGEN_HAVE_READACQUIRE
static __inline__ LONG ReadAcquire(_In_ _Interlocked_operand_ LONG const volatile *Source)
{
    return __atomic_load_n(Source, __ATOMIC_ACQUIRE);
}
#endif

/* ---- Time ------------------------------------------------------------------------------ */

/* Exported by ntoskrnl.exe (Windows 8+); the import comes from ntoskrnl_extra.def. */
#if NTDDI_VERSION >= 0x06020000 /* NTDDI_WIN8 */
NTKERNELAPI VOID NTAPI KeQuerySystemTimePrecise(PLARGE_INTEGER CurrentTime);
#endif

/* ---- Byte order ----------------------------------------------------------------------------
 * MinGW's wdm.h maps RtlUshortByteSwap and RtlUlongByteSwap to _byteswap_ushort and
 * _byteswap_ulong as the WDK does; MSVC makes those intrinsics, MinGW declares them as CRT
 * functions a driver cannot import.  The compiler's builtins instead (the etw sink puts ports
 * and IPv4 addresses into network order with them). */
#undef RtlUshortByteSwap
#undef RtlUlongByteSwap
#define RtlUshortByteSwap(_x) ((USHORT)__builtin_bswap16((USHORT)(_x)))
#define RtlUlongByteSwap(_x) ((ULONG)__builtin_bswap32((ULONG)(_x)))

#endif /* WFPGEN_CROSSBUILD_NTDDK_H */
