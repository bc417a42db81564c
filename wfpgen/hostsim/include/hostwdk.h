/*
 * hostwdk.h - host-side stand-in for the subset of the WDK that wfpgen's generated
 * drivers use (ntdef/wdm/ntddk/ntifs, wdmsec, fwptypes/fwpmtypes/fwpstypes, fwpsk, fwpmk).
 *
 * Purpose: let a host gcc type-check the generated C strictly.  Names, parameter types and
 * numeric values follow Microsoft's headers and documentation; where a value is Microsoft's
 * it is written as Microsoft writes it.  This file is NOT the WDK and describes no ABI:
 *   - structures the generated code only passes through are incomplete types, so any new
 *     member access fails to compile instead of silently using a guessed layout;
 *   - FWPS_INCOMING_METADATA_VALUES0, IRP and IO_STACK_LOCATION are documented subsets:
 *     members in Microsoft's order with Microsoft's types, but not all of them, so their
 *     layout is NOT the real one (see there);
 *   - calling conventions are empty (x64 Windows has one) and SAL annotations expand to
 *     nothing.
 *
 * Host build requirements: a GNU C compiler and -fshort-wchar (WCHAR is 16 bits on
 * Windows, and FWPM_DISPLAY_DATA0 uses wchar_t, so WCHAR must be wchar_t).
 *
 * The public headers (ntifs.h, ntddk.h, wdm.h, wdmsec.h, ndis.h, fwpsk.h, fwpmk.h,
 * initguid.h) include this file.  The FWPS_BUILTIN_LAYERS / FWPS_FIELDS_* enums and the
 * FWPM_LAYER_* / FWPM_CONDITION_* GUIDs live in the generated wfp_layers.h, pulled in by
 * fwpsk.h and fwpmk.h respectively.
 */

#ifndef HOSTWDK_H
#define HOSTWDK_H

#if !defined(__GNUC__)
#error "hostwdk.h targets GNU C compilers (gcc, clang)"
#endif

#if __SIZEOF_WCHAR_T__ != 2
#error "hostwdk.h needs a 16-bit wchar_t, as on Windows: compile with -fshort-wchar"
#endif

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "hostwdk.h models a 64-bit Windows target: build on a 64-bit host"
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memset/memcpy behind RtlZeroMemory/RtlCopyMemory, as in the WDK */

/* ---------------------------------------------------------------------------------------
 * Target version (sdkddkver.h).  Declarations the WDK offers only from some Windows version
 * on sit under the same NTDDI_VERSION test here (scripts/compare_shims.py checks each one).
 * Without an NTDDI_VERSION the newest version these headers describe is assumed, as the
 * WDK assumes its own newest.
 * ------------------------------------------------------------------------------------- */

#define NTDDI_WIN7      0x06010000
#define NTDDI_WIN8      0x06020000
#define NTDDI_WIN10     0x0A000000
#define NTDDI_WIN10_RS3 0x0A000004
#define NTDDI_WIN10_VB  0x0A000008

#ifndef NTDDI_VERSION
#define NTDDI_VERSION 0x0A00000C /* NTDDI_WIN10_NI: Windows 11 22H2 */
#endif

/* ---------------------------------------------------------------------------------------
 * Calling conventions, storage classes, compiler glue (ntdef.h, winnt.h, guiddef.h)
 * ------------------------------------------------------------------------------------- */

#define NTAPI    /* x64 Windows has a single calling convention */
#define FASTCALL /* likewise: __fastcall means nothing on x64 */
#define NTSYSAPI
#define NTKERNELAPI
#define EXTERN_C extern
#define FORCEINLINE __inline__ __attribute__((always_inline))
#define DECLSPEC_SELECTANY __attribute__((weak))
#define DECLSPEC_RESTRICT
#define ANYSIZE_ARRAY 1

/* ---------------------------------------------------------------------------------------
 * SAL 2 annotations and driver annotations (sal.h, driverspecs.h): all empty on the host.
 * ------------------------------------------------------------------------------------- */

#define _In_
#define _In_opt_
#define _In_z_
#define _In_opt_z_
#define _In_reads_(n)
#define _In_reads_opt_(n)
#define _In_reads_bytes_(n)
#define _In_reads_bytes_opt_(n)
#define _Out_
#define _Out_opt_
#define _Out_writes_(n)
#define _Out_writes_opt_(n)
#define _Out_writes_bytes_(n)
#define _Out_writes_bytes_opt_(n)
#define _Out_writes_bytes_all_(n)
#define _Out_writes_bytes_to_(n, c)
#define _Inout_
#define _Inout_opt_
#define _Inout_updates_(n)
#define _Inout_updates_bytes_(n)
#define _Outptr_
#define _Outptr_opt_
#define _Outptr_result_maybenull_
#define _Pre_notnull_
#define _Post_invalid_
#define _Ret_maybenull_
#define _Must_inspect_result_
#define _Check_return_
#define _Success_(x)
#define _Use_decl_annotations_
#define _Printf_format_string_
#define _Function_class_(x)
#define _Dispatch_type_(x)
#define _IRQL_requires_(x)
#define _IRQL_requires_max_(x)
#define _IRQL_requires_min_(x)
#define _IRQL_requires_same_
#define _IRQL_always_function_min_(x)
#define _IRQL_always_function_max_(x)
#define _IRQL_raises_(x)
#define _IRQL_saves_
#define _IRQL_restores_
#define _Requires_lock_held_(x)
#define _Requires_lock_not_held_(x)
#define _Acquires_lock_(x)
#define _Releases_lock_(x)
#define _Interlocked_operand_
#define _When_(c, a)
#define _At_(t, a)
#define _IRQL_saves_global_(k, p)
#define _IRQL_restores_global_(k, p)
#define __drv_allocatesMem(k)
#define __drv_freesMem(k)
#define __drv_aliasesMem
#define __drv_dispatchType(x)
#define __drv_requiresIRQL(x)
#define __drv_maxIRQL(x)
#define __drv_strictTypeMatch(mode)
#define __drv_typeExpr

/* IRQLs named in annotations (wdm.h) */
#define PASSIVE_LEVEL  0
#define APC_LEVEL      1
#define DISPATCH_LEVEL 2
#define HIGH_LEVEL     15

/* ---------------------------------------------------------------------------------------
 * Base types (basetsd.h, ntdef.h, winnt.h) with Windows x64 (LLP64) sizes.
 * Every 64-bit unsigned name is the same C type, as on Windows (unsigned __int64).
 * ------------------------------------------------------------------------------------- */

#define VOID void
typedef void *PVOID;
typedef void *HANDLE;
typedef HANDLE *PHANDLE;

typedef char CHAR;
typedef char CCHAR;
typedef unsigned char UCHAR;
typedef short SHORT;
typedef unsigned short USHORT;
typedef short CSHORT;
typedef int32_t LONG;
typedef uint32_t ULONG;
typedef ULONG *PULONG;
typedef long long LONGLONG;
typedef unsigned long long ULONGLONG;
typedef int BOOL;
typedef UCHAR BOOLEAN;
typedef BOOLEAN *PBOOLEAN;
typedef uint32_t DWORD;

typedef signed char INT8;
typedef short INT16;
typedef int INT32;
typedef long long INT64;
typedef unsigned char UINT8;
typedef unsigned short UINT16;
typedef unsigned int UINT32;
typedef unsigned long long UINT64;
typedef long long LONG64;
typedef unsigned long long ULONG64;
typedef unsigned long long DWORD64;
typedef long long LONG_PTR;
typedef unsigned long long ULONG_PTR;
typedef ULONG_PTR SIZE_T;

typedef wchar_t WCHAR;
typedef WCHAR *PWCH;
typedef WCHAR *PWSTR;
typedef WCHAR *LPWSTR;
typedef const WCHAR *PCWSTR;
typedef const WCHAR *LPCWSTR;
typedef CHAR *PCHAR;
typedef CHAR *PSTR;
typedef const CHAR *PCSTR;
typedef const CHAR *PCCH;

typedef LONG NTSTATUS;

#define TRUE  1
#define FALSE 0

typedef union _LARGE_INTEGER
{
    struct
    {
        ULONG LowPart;
        LONG HighPart;
    };
    struct
    {
        ULONG LowPart;
        LONG HighPart;
    } u;
    LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

/* ---------------------------------------------------------------------------------------
 * Helper macros (ntdef.h, wdm.h)
 * ------------------------------------------------------------------------------------- */

/* The WDK writes (P); gcc would warn "statement with no effect", so cast to void. */
#define UNREFERENCED_PARAMETER(P) ((void)(P))

/* C_ASSERT is a negative-array typedef in ntdef.h; C11 has a direct equivalent. */
#define C_ASSERT(e) _Static_assert((e), #e)

#define FIELD_OFFSET(type, field) ((LONG)__builtin_offsetof(type, field))
#define RTL_NUMBER_OF(A) (sizeof(A) / sizeof((A)[0]))

#define NT_SUCCESS(Status) (((NTSTATUS)(Status)) >= 0)

/* Free-build NT_ASSERT does nothing; the host keeps the expression type-checked but never
 * evaluates it (so a wrong comparison still fails -Wsign-compare). */
/* The WDK's NT_ASSERT and NT_ASSERTMSG break into the debugger in a Debug build; the host, a Debug
 * build, records a violation through HostWdkAssertFailed. */
#define NT_ASSERT(_exp) ((_exp) ? (void)0 : HostWdkAssertFailed(NULL, #_exp, __FILE__, __LINE__, __func__))
#define NT_ASSERTMSG(_msg, _exp) ((_exp) ? (void)0 : HostWdkAssertFailed((_msg), #_exp, __FILE__, __LINE__, __func__))

/* The WDK's free-build PAGED_CODE() expands to nothing and its checked build asserts
 * IRQL <= APC_LEVEL.  The host always checks, through the host runtime's hook (declared
 * with the IRQL routines below), which records a violation above APC_LEVEL. */
#define PAGED_CODE() HostWdkCheckPagedCode(__func__)

/* The WDK's RtlCopyMemory is memcpy.  The checking builds route it through the host runtime,
 * which counts the bytes copied while the thread holds a spin lock (the bound on a READ's lock
 * hold is a number of bytes, checked exactly; see HostWdk_GetLockHolds).  The bench build
 * copies as the WDK does. */
#ifdef HOSTWDK_BENCH
#define RtlCopyMemory(Destination, Source, Length) memcpy((Destination), (Source), (Length))
#else
void *HostWdk_CopyMemory(void *Destination, const void *Source, size_t Length);
#define RtlCopyMemory(Destination, Source, Length) HostWdk_CopyMemory((Destination), (Source), (Length))
#endif
#define RtlZeroMemory(Destination, Length) memset((Destination), 0, (Length))

/* ---------------------------------------------------------------------------------------
 * NTSTATUS values (ntstatus.h)
 * ------------------------------------------------------------------------------------- */

#define STATUS_SUCCESS                ((NTSTATUS)0x00000000L)
#define STATUS_PENDING                ((NTSTATUS)0x00000103L)
#define STATUS_OBJECT_NAME_EXISTS     ((NTSTATUS)0x40000000L) /* informational: NT_SUCCESS is TRUE */
#define STATUS_BUFFER_OVERFLOW        ((NTSTATUS)0x80000005L)
#define STATUS_UNSUCCESSFUL           ((NTSTATUS)0xC0000001L)
#define STATUS_NOT_IMPLEMENTED        ((NTSTATUS)0xC0000002L)
#define STATUS_INVALID_PARAMETER      ((NTSTATUS)0xC000000DL)
#define STATUS_INVALID_DEVICE_REQUEST ((NTSTATUS)0xC0000010L)
#define STATUS_BUFFER_TOO_SMALL       ((NTSTATUS)0xC0000023L)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009AL)
#define STATUS_NOT_SUPPORTED          ((NTSTATUS)0xC00000BBL)
#define STATUS_CANCELLED              ((NTSTATUS)0xC0000120L)
#define STATUS_DEVICE_BUSY            ((NTSTATUS)0x80000011L)
#define STATUS_INVALID_HANDLE         ((NTSTATUS)0xC0000008L)
#define STATUS_OBJECT_NAME_INVALID    ((NTSTATUS)0xC0000033L)
#define STATUS_OBJECT_NAME_NOT_FOUND  ((NTSTATUS)0xC0000034L)
#define STATUS_OBJECT_NAME_COLLISION  ((NTSTATUS)0xC0000035L)

/* WFP errors as NTSTATUS (ntstatus.h): facility 0x22, same codes as FWP_E_* 0x8032xxxx. */
#define STATUS_FWP_CALLOUT_NOT_FOUND                ((NTSTATUS)0xC0220001L)
#define STATUS_FWP_CONDITION_NOT_FOUND              ((NTSTATUS)0xC0220002L)
#define STATUS_FWP_FILTER_NOT_FOUND                 ((NTSTATUS)0xC0220003L)
#define STATUS_FWP_LAYER_NOT_FOUND                  ((NTSTATUS)0xC0220004L)
#define STATUS_FWP_PROVIDER_NOT_FOUND               ((NTSTATUS)0xC0220005L)
#define STATUS_FWP_SUBLAYER_NOT_FOUND               ((NTSTATUS)0xC0220007L)
#define STATUS_FWP_NOT_FOUND                        ((NTSTATUS)0xC0220008L)
#define STATUS_FWP_ALREADY_EXISTS                   ((NTSTATUS)0xC0220009L)
#define STATUS_FWP_IN_USE                           ((NTSTATUS)0xC022000AL)
#define STATUS_FWP_DYNAMIC_SESSION_IN_PROGRESS      ((NTSTATUS)0xC022000BL)
#define STATUS_FWP_WRONG_SESSION                    ((NTSTATUS)0xC022000CL)
#define STATUS_FWP_NO_TXN_IN_PROGRESS               ((NTSTATUS)0xC022000DL)
#define STATUS_FWP_TXN_IN_PROGRESS                  ((NTSTATUS)0xC022000EL)
#define STATUS_FWP_INCOMPATIBLE_LAYER               ((NTSTATUS)0xC0220014L)
#define STATUS_FWP_MATCH_TYPE_MISMATCH              ((NTSTATUS)0xC0220026L)
#define STATUS_FWP_TYPE_MISMATCH                    ((NTSTATUS)0xC0220027L)
#define STATUS_FWP_INVALID_PARAMETER                ((NTSTATUS)0xC0220035L)

/* ---------------------------------------------------------------------------------------
 * GUIDs (guiddef.h, initguid.h)
 *
 * DEFINE_GUID declares the GUID (extern) unless INITGUID is defined, in which case it
 * defines it, weak like DECLSPEC_SELECTANY.  The choice is made at each use: the macro
 * pastes the current expansion of INITGUID onto a prefix, so including <initguid.h>
 * (which defines INITGUID) in the middle of a translation unit switches the GUIDs that
 * follow from declarations to definitions, as re-including guiddef.h does in the WDK.
 *   INITGUID undefined      -> HOSTWDK_GUID_INITGUID -> declaration
 *   INITGUID defined empty  -> HOSTWDK_GUID_         -> definition
 *   INITGUID defined as 1   -> HOSTWDK_GUID_1        -> definition (-DINITGUID)
 * ------------------------------------------------------------------------------------- */

typedef struct _GUID
{
    ULONG Data1;
    USHORT Data2;
    USHORT Data3;
    UCHAR Data4[8];
} GUID;

typedef GUID *LPGUID;
typedef const GUID *LPCGUID;
#define REFGUID const GUID *const /* guiddef.h (C): a macro */

#define HOSTWDK_PASTE_(a, b) a##b
#define HOSTWDK_PASTE(a, b) HOSTWDK_PASTE_(a, b)

#define HOSTWDK_GUID_INITGUID(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8) EXTERN_C const GUID name
#define HOSTWDK_GUID_(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8)                                  \
    const GUID DECLSPEC_SELECTANY name = {l, w1, w2, {b1, b2, b3, b4, b5, b6, b7, b8}}
#define HOSTWDK_GUID_1 HOSTWDK_GUID_

#define DEFINE_GUID(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8)                                    \
    HOSTWDK_PASTE(HOSTWDK_GUID_, INITGUID)(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8)

/* ---------------------------------------------------------------------------------------
 * Strings (ntdef.h)
 * ------------------------------------------------------------------------------------- */

typedef struct _UNICODE_STRING
{
    USHORT Length;
    USHORT MaximumLength;
    PWCH Buffer;
} UNICODE_STRING, *PUNICODE_STRING;

typedef const UNICODE_STRING *PCUNICODE_STRING;

#define RTL_CONSTANT_STRING(s) {sizeof(s) - sizeof((s)[0]), sizeof(s), (PWCH)(s)}

/* ---------------------------------------------------------------------------------------
 * Doubly linked lists (ntdef.h; the list routines are inline functions in wdm.h)
 * ------------------------------------------------------------------------------------- */

typedef struct _LIST_ENTRY
{
    struct _LIST_ENTRY *Flink;
    struct _LIST_ENTRY *Blink;
} LIST_ENTRY, *PLIST_ENTRY;

/* The address of the structure of type `type` whose member `field` is at `address`.  The
 * WDK computes the member offset as &((type *)0)->field; offsetof gives the same value
 * without a null-pointer member access. */
#define CONTAINING_RECORD(address, type, field)                                                        \
    ((type *)((PCHAR)(address) - (ULONG_PTR)__builtin_offsetof(type, field)))

static FORCEINLINE VOID InitializeListHead(_Out_ PLIST_ENTRY ListHead)
{
    ListHead->Flink = ListHead->Blink = ListHead;
}

/* Like the WDK's default (no NO_KERNEL_LIST_ENTRY_CHECKS), a corrupt neighbour stops the
 * machine instead of being linked in: __fastfail there, a trap here. */
static FORCEINLINE VOID InsertTailList(_Inout_ PLIST_ENTRY ListHead, _Out_ __drv_aliasesMem PLIST_ENTRY Entry)
{
    PLIST_ENTRY PrevEntry = ListHead->Blink;

    if (PrevEntry->Flink != ListHead)
    {
        __builtin_trap();
    }
    Entry->Flink = ListHead;
    Entry->Blink = PrevEntry;
    PrevEntry->Flink = Entry;
    ListHead->Blink = Entry;
}

/* Returns TRUE when the list is empty afterwards. */
static FORCEINLINE BOOLEAN RemoveEntryList(_In_ PLIST_ENTRY Entry)
{
    PLIST_ENTRY NextEntry = Entry->Flink;
    PLIST_ENTRY PrevEntry = Entry->Blink;

    if (NextEntry->Blink != Entry || PrevEntry->Flink != Entry)
    {
        __builtin_trap();
    }
    PrevEntry->Flink = NextEntry;
    NextEntry->Blink = PrevEntry;
    return (BOOLEAN)(PrevEntry == NextEntry);
}

/* ---------------------------------------------------------------------------------------
 * IRQL and spin locks (wdm.h), as declared for x64 and ARM64 (not x86)
 * ------------------------------------------------------------------------------------- */

typedef UCHAR KIRQL;
typedef KIRQL *PKIRQL;

typedef ULONG_PTR KSPIN_LOCK;
typedef KSPIN_LOCK *PKSPIN_LOCK;

typedef struct _KSPIN_LOCK_QUEUE
{
    struct _KSPIN_LOCK_QUEUE *volatile Next;
    PKSPIN_LOCK volatile Lock;
} KSPIN_LOCK_QUEUE, *PKSPIN_LOCK_QUEUE;

typedef struct _KLOCK_QUEUE_HANDLE
{
    KSPIN_LOCK_QUEUE LockQueue;
    KIRQL OldIrql;
} KLOCK_QUEUE_HANDLE, *PKLOCK_QUEUE_HANDLE;

/* Outside x86, KeInitializeSpinLock is inline in wdm.h: it zeroes the lock. */
static FORCEINLINE VOID KeInitializeSpinLock(_Out_ PKSPIN_LOCK SpinLock)
{
    *SpinLock = 0;
}

_IRQL_requires_max_(DISPATCH_LEVEL) _IRQL_saves_ _IRQL_raises_(DISPATCH_LEVEL) NTKERNELAPI KIRQL
    KeAcquireSpinLockRaiseToDpc(_Inout_ PKSPIN_LOCK SpinLock);

/* Documented as VOID KeAcquireSpinLock(PKSPIN_LOCK SpinLock, PKIRQL OldIrql); outside x86
 * the WDK defines it as this macro (on x86 it is one over KfAcquireSpinLock). */
#define KeAcquireSpinLock(SpinLock, OldIrql) *(OldIrql) = KeAcquireSpinLockRaiseToDpc(SpinLock)

_IRQL_requires_(DISPATCH_LEVEL) NTKERNELAPI VOID KeReleaseSpinLock(_Inout_ PKSPIN_LOCK SpinLock,
                                                                   _In_ _IRQL_restores_ KIRQL NewIrql);

_IRQL_requires_max_(DISPATCH_LEVEL) _IRQL_saves_global_(QueuedSpinLock, LockHandle) _IRQL_raises_(DISPATCH_LEVEL)
    NTKERNELAPI VOID FASTCALL KeAcquireInStackQueuedSpinLock(_Inout_ PKSPIN_LOCK SpinLock,
                                                             _Out_ PKLOCK_QUEUE_HANDLE LockHandle);

_IRQL_requires_(DISPATCH_LEVEL) _IRQL_restores_global_(QueuedSpinLock, LockHandle)
    NTKERNELAPI VOID FASTCALL KeReleaseInStackQueuedSpinLock(_In_ PKLOCK_QUEUE_HANDLE LockHandle);

/* Processors (ntdef.h, wdm.h). */
typedef struct _PROCESSOR_NUMBER
{
    USHORT Group;
    UCHAR Number;
    UCHAR Reserved;
} PROCESSOR_NUMBER, *PPROCESSOR_NUMBER;

#define ALL_PROCESSOR_GROUPS 0xffff

#if NTDDI_VERSION >= NTDDI_WIN7
NTKERNELAPI ULONG KeQueryActiveProcessorCountEx(_In_ USHORT GroupNumber);
NTKERNELAPI ULONG KeGetCurrentProcessorNumberEx(_Out_opt_ PPROCESSOR_NUMBER ProcNumber);
#endif

/* On x64 wdm.h makes KeGetCurrentIrql an inline that reads CR8; the host declares the routine. */
_IRQL_requires_max_(HIGH_LEVEL) NTKERNELAPI KIRQL KeGetCurrentIrql(VOID);

/* Host only, behind PAGED_CODE(): records a violation when called above APC_LEVEL. */
VOID HostWdkCheckPagedCode(_In_z_ PCSTR Function);

/* Host only, behind NT_ASSERT and NT_ASSERTMSG: records a violation. */
VOID HostWdkAssertFailed(_In_opt_z_ PCSTR Message, _In_z_ PCSTR Expression, _In_z_ PCSTR File, _In_ int Line,
                         _In_z_ PCSTR Function);

/* ---------------------------------------------------------------------------------------
 * Security (ntifs.h / winnt.h): SID for FWP_VALUE0.sid
 * ------------------------------------------------------------------------------------- */

typedef struct _SID_IDENTIFIER_AUTHORITY
{
    UCHAR Value[6];
} SID_IDENTIFIER_AUTHORITY, *PSID_IDENTIFIER_AUTHORITY;

typedef struct _SID
{
    UCHAR Revision;
    UCHAR SubAuthorityCount;
    SID_IDENTIFIER_AUTHORITY IdentifierAuthority;
    ULONG SubAuthority[ANYSIZE_ARRAY];
} SID, *PISID;

typedef PVOID PSID;

#define SID_REVISION (1)

typedef const WCHAR *PCWCH;

/* Byte order: WFP hands ports and IPv4 addresses to classify in host order. */
static FORCEINLINE USHORT RtlUshortByteSwap(_In_ USHORT Source)
{
    return (USHORT)__builtin_bswap16(Source);
}

static FORCEINLINE ULONG RtlUlongByteSwap(_In_ ULONG Source)
{
    return (ULONG)__builtin_bswap32(Source);
}

typedef struct _SID_AND_ATTRIBUTES
{
    PSID Sid;
    ULONG Attributes;
} SID_AND_ATTRIBUTES, *PSID_AND_ATTRIBUTES;

typedef PVOID PSECURITY_DESCRIPTOR;

/* ---------------------------------------------------------------------------------------
 * Driver and device objects (wdm.h)
 * ------------------------------------------------------------------------------------- */

#define IRP_MJ_CREATE           0x00
#define IRP_MJ_CLOSE            0x02
#define IRP_MJ_DEVICE_CONTROL   0x0e
#define IRP_MJ_CLEANUP          0x12
#define IRP_MJ_MAXIMUM_FUNCTION 0x1b

#define DEVICE_TYPE ULONG /* devioctl.h: a macro, not a typedef */
#define FILE_DEVICE_NETWORK 0x00000012
#define FILE_DEVICE_SECURE_OPEN 0x00000100

/* Opaque to the generated code: only pointers are passed around. */
typedef struct _DEVICE_OBJECT DEVICE_OBJECT, *PDEVICE_OBJECT;
typedef struct _FILE_OBJECT FILE_OBJECT, *PFILE_OBJECT;
typedef struct _MDL MDL, *PMDL;
typedef struct _KEVENT KEVENT, *PKEVENT;
typedef struct _KTHREAD *PETHREAD; /* ntdef.h: PETHREAD points to the kernel thread object */
/* IRP and IO_STACK_LOCATION are completed (as subsets) below. */
typedef struct _IRP IRP, *PIRP;
typedef struct _IO_STACK_LOCATION IO_STACK_LOCATION, *PIO_STACK_LOCATION;
typedef struct _DRIVER_EXTENSION DRIVER_EXTENSION, *PDRIVER_EXTENSION;
typedef struct _FAST_IO_DISPATCH FAST_IO_DISPATCH, *PFAST_IO_DISPATCH;

struct _DRIVER_OBJECT;

/* Role types are function types, so "DRIVER_INITIALIZE DriverEntry;" declares a function. */
typedef _Function_class_(DRIVER_INITIALIZE) _IRQL_requires_same_ _IRQL_requires_(PASSIVE_LEVEL)
    NTSTATUS DRIVER_INITIALIZE(_In_ struct _DRIVER_OBJECT *DriverObject, _In_ PUNICODE_STRING RegistryPath);
typedef DRIVER_INITIALIZE *PDRIVER_INITIALIZE;

typedef _Function_class_(DRIVER_STARTIO) _IRQL_always_function_min_(DISPATCH_LEVEL)
    VOID DRIVER_STARTIO(_Inout_ struct _DEVICE_OBJECT *DeviceObject, _Inout_ struct _IRP *Irp);
typedef DRIVER_STARTIO *PDRIVER_STARTIO;

typedef _Function_class_(DRIVER_UNLOAD) _IRQL_requires_(PASSIVE_LEVEL) _IRQL_requires_same_
    VOID DRIVER_UNLOAD(_In_ struct _DRIVER_OBJECT *DriverObject);
typedef DRIVER_UNLOAD *PDRIVER_UNLOAD;

typedef _Function_class_(DRIVER_DISPATCH) _IRQL_requires_max_(DISPATCH_LEVEL) _IRQL_requires_same_
    NTSTATUS DRIVER_DISPATCH(_In_ struct _DEVICE_OBJECT *DeviceObject, _Inout_ struct _IRP *Irp);
typedef DRIVER_DISPATCH *PDRIVER_DISPATCH;

typedef struct _DRIVER_OBJECT
{
    CSHORT Type;
    CSHORT Size;
    PDEVICE_OBJECT DeviceObject;
    ULONG Flags;
    PVOID DriverStart;
    ULONG DriverSize;
    PVOID DriverSection;
    PDRIVER_EXTENSION DriverExtension;
    UNICODE_STRING DriverName;
    PUNICODE_STRING HardwareDatabase;
    PFAST_IO_DISPATCH FastIoDispatch;
    PDRIVER_INITIALIZE DriverInit;
    PDRIVER_STARTIO DriverStartIo;
    PDRIVER_UNLOAD DriverUnload;
    PDRIVER_DISPATCH MajorFunction[IRP_MJ_MAXIMUM_FUNCTION + 1];
} DRIVER_OBJECT, *PDRIVER_OBJECT;

_IRQL_requires_max_(PASSIVE_LEVEL) NTKERNELAPI NTSTATUS IoCreateDevice(
    _In_ PDRIVER_OBJECT DriverObject, _In_ ULONG DeviceExtensionSize, _In_opt_ PUNICODE_STRING DeviceName,
    _In_ DEVICE_TYPE DeviceType, _In_ ULONG DeviceCharacteristics, _In_ BOOLEAN Exclusive,
    _Out_ PDEVICE_OBJECT *DeviceObject);

_IRQL_requires_max_(PASSIVE_LEVEL) NTKERNELAPI VOID IoDeleteDevice(_In_ __drv_freesMem(Mem) PDEVICE_OBJECT DeviceObject);

_IRQL_requires_max_(PASSIVE_LEVEL) NTKERNELAPI NTSTATUS IoCreateSymbolicLink(_In_ PUNICODE_STRING SymbolicLinkName,
                                                                           _In_ PUNICODE_STRING DeviceName);

_IRQL_requires_max_(PASSIVE_LEVEL) NTKERNELAPI NTSTATUS IoDeleteSymbolicLink(_In_ PUNICODE_STRING SymbolicLinkName);

/* ---------------------------------------------------------------------------------------
 * I/O control codes (devioctl.h, reached through wdm.h; FILE_READ_DATA is winnt.h's)
 * ------------------------------------------------------------------------------------- */

#define CTL_CODE(DeviceType, Function, Method, Access)                                                 \
    (((DeviceType) << 16) | ((Access) << 14) | ((Function) << 2) | (Method))

#define METHOD_BUFFERED   0
#define METHOD_IN_DIRECT  1
#define METHOD_OUT_DIRECT 2
#define METHOD_NEITHER    3

#define FILE_ANY_ACCESS   0
#define FILE_READ_ACCESS  (0x0001)
#define FILE_WRITE_ACCESS (0x0002)

#define FILE_READ_DATA  (0x0001) /* file & pipe */
#define FILE_WRITE_DATA (0x0002) /* file & pipe */

/* ---------------------------------------------------------------------------------------
 * I/O request packets (wdm.h)
 * ------------------------------------------------------------------------------------- */

typedef CCHAR KPROCESSOR_MODE;

typedef enum _MODE
{
    KernelMode,
    UserMode,
    MaximumMode
} MODE;

typedef struct _IO_STATUS_BLOCK
{
    union
    {
        NTSTATUS Status;
        PVOID Pointer;
    };
    ULONG_PTR Information;
} IO_STATUS_BLOCK, *PIO_STATUS_BLOCK;

typedef _Function_class_(IO_COMPLETION_ROUTINE) _IRQL_requires_same_ NTSTATUS
    IO_COMPLETION_ROUTINE(_In_ PDEVICE_OBJECT DeviceObject, _In_ PIRP Irp, _In_opt_ PVOID Context);
typedef IO_COMPLETION_ROUTINE *PIO_COMPLETION_ROUTINE;

/*
 * IRP - SUBSET, for type checking only.  The members present are in wdm.h's order with
 * wdm.h's types; left out are Overlay (the AsynchronousParameters / AllocationSize union),
 * CancelRoutine, Tail.Overlay.DeviceQueueEntry (which shares storage with DriverContext),
 * Tail.Apc and Tail.CompletionKey.  Offsets and size are therefore NOT those of the real
 * structure: never derive a layout from this declaration.
 */
struct _IRP
{
    CSHORT Type;
    USHORT Size;
    PMDL MdlAddress;
    ULONG Flags;
    union
    {
        struct _IRP *MasterIrp;
        LONG IrpCount;
        PVOID SystemBuffer;
    } AssociatedIrp;
    LIST_ENTRY ThreadListEntry;
    IO_STATUS_BLOCK IoStatus;
    KPROCESSOR_MODE RequestorMode;
    BOOLEAN PendingReturned;
    CHAR StackCount;
    CHAR CurrentLocation;
    BOOLEAN Cancel;
    KIRQL CancelIrql;
    CCHAR ApcEnvironment;
    UCHAR AllocationFlags;
    PIO_STATUS_BLOCK UserIosb;
    PKEVENT UserEvent;
    PVOID UserBuffer;
    union
    {
        struct
        {
            struct
            {
                PVOID DriverContext[4];
            };
            PETHREAD Thread;
            PCHAR AuxiliaryBuffer;
            struct
            {
                LIST_ENTRY ListEntry;
                union
                {
                    struct _IO_STACK_LOCATION *CurrentStackLocation;
                    ULONG PacketType;
                };
            };
            PFILE_OBJECT OriginalFileObject;
        } Overlay;
    } Tail;
};

/* POINTER_ALIGNMENT is DECLSPEC_ALIGN(8) on 64-bit Windows. */
#define POINTER_ALIGNMENT __attribute__((aligned(8)))

/*
 * IO_STACK_LOCATION - SUBSET, for type checking only.  The members present are in wdm.h's
 * order with wdm.h's types, but Parameters holds only Read, Write, DeviceIoControl and
 * Others of its many alternatives.  The layout is NOT asserted to be the real one.
 */
struct _IO_STACK_LOCATION
{
    UCHAR MajorFunction;
    UCHAR MinorFunction;
    UCHAR Flags;
    UCHAR Control;
    union
    {
        struct
        {
            ULONG Length;
            ULONG POINTER_ALIGNMENT Key;
            LARGE_INTEGER ByteOffset;
        } Read;
        struct
        {
            ULONG Length;
            ULONG POINTER_ALIGNMENT Key;
            LARGE_INTEGER ByteOffset;
        } Write;
        struct
        {
            ULONG OutputBufferLength;
            ULONG POINTER_ALIGNMENT InputBufferLength;
            ULONG POINTER_ALIGNMENT IoControlCode;
            PVOID Type3InputBuffer;
        } DeviceIoControl;
        struct
        {
            PVOID Argument1;
            PVOID Argument2;
            PVOID Argument3;
            PVOID Argument4;
        } Others;
    } Parameters;
    PDEVICE_OBJECT DeviceObject;
    PFILE_OBJECT FileObject;
    PIO_COMPLETION_ROUTINE CompletionRoutine;
    PVOID Context;
};

_IRQL_requires_max_(DISPATCH_LEVEL) static FORCEINLINE PIO_STACK_LOCATION
IoGetCurrentIrpStackLocation(_In_ PIRP Irp)
{
    NT_ASSERT(Irp->CurrentLocation <= Irp->StackCount + 1);
    return Irp->Tail.Overlay.CurrentStackLocation;
}

/* IoMarkIrpPending is an inline routine of wdm.h: it flags the current stack location. */
#define SL_PENDING_RETURNED 0x01

_IRQL_requires_max_(DISPATCH_LEVEL) static FORCEINLINE VOID IoMarkIrpPending(_Inout_ PIRP Irp)
{
    PIO_STACK_LOCATION Stack = IoGetCurrentIrpStackLocation(Irp);

    Stack->Control = (UCHAR)(Stack->Control | SL_PENDING_RETURNED);
}

#define IO_NO_INCREMENT 0

/* Documented as VOID IoCompleteRequest(PIRP Irp, CCHAR PriorityBoost); wdm.h defines it as
 * a macro over the exported IofCompleteRequest. */
_IRQL_requires_max_(DISPATCH_LEVEL) NTKERNELAPI VOID FASTCALL IofCompleteRequest(_In_ PIRP Irp,
                                                                                 _In_ CCHAR PriorityBoost);
#define IoCompleteRequest(a, b) IofCompleteRequest(a, b)

/* ---------------------------------------------------------------------------------------
 * Cancel-safe IRP queues (wdm.h).  The role types are function types, so
 * "IO_CSQ_INSERT_IRP MyInsert;" declares a function, as in the WDK.
 * ------------------------------------------------------------------------------------- */

struct _IO_CSQ;

typedef _IRQL_requires_max_(DISPATCH_LEVEL) VOID IO_CSQ_INSERT_IRP(_In_ struct _IO_CSQ *Csq, _In_ PIRP Irp);
typedef IO_CSQ_INSERT_IRP *PIO_CSQ_INSERT_IRP;

typedef _IRQL_requires_max_(DISPATCH_LEVEL) VOID IO_CSQ_REMOVE_IRP(_In_ struct _IO_CSQ *Csq, _In_ PIRP Irp);
typedef IO_CSQ_REMOVE_IRP *PIO_CSQ_REMOVE_IRP;

typedef _IRQL_requires_max_(DISPATCH_LEVEL) PIRP
    IO_CSQ_PEEK_NEXT_IRP(_In_ struct _IO_CSQ *Csq, _In_opt_ PIRP Irp, _In_opt_ PVOID PeekContext);
typedef IO_CSQ_PEEK_NEXT_IRP *PIO_CSQ_PEEK_NEXT_IRP;

typedef _IRQL_raises_(DISPATCH_LEVEL) _IRQL_requires_max_(DISPATCH_LEVEL) VOID
    IO_CSQ_ACQUIRE_LOCK(_In_ struct _IO_CSQ *Csq, _Out_ _At_(*Irql, _IRQL_saves_) PKIRQL Irql);
typedef IO_CSQ_ACQUIRE_LOCK *PIO_CSQ_ACQUIRE_LOCK;

typedef _IRQL_requires_(DISPATCH_LEVEL) VOID
    IO_CSQ_RELEASE_LOCK(_In_ struct _IO_CSQ *Csq, _In_ _IRQL_restores_ KIRQL Irql);
typedef IO_CSQ_RELEASE_LOCK *PIO_CSQ_RELEASE_LOCK;

typedef _IRQL_requires_max_(DISPATCH_LEVEL) VOID
    IO_CSQ_COMPLETE_CANCELED_IRP(_In_ struct _IO_CSQ *Csq, _In_ PIRP Irp);
typedef IO_CSQ_COMPLETE_CANCELED_IRP *PIO_CSQ_COMPLETE_CANCELED_IRP;

/* Documented as opaque; declared complete because drivers provide its storage. */
typedef struct _IO_CSQ
{
    ULONG Type;
    PIO_CSQ_INSERT_IRP CsqInsertIrp;
    PIO_CSQ_REMOVE_IRP CsqRemoveIrp;
    PIO_CSQ_PEEK_NEXT_IRP CsqPeekNextIrp;
    PIO_CSQ_ACQUIRE_LOCK CsqAcquireLock;
    PIO_CSQ_RELEASE_LOCK CsqReleaseLock;
    PIO_CSQ_COMPLETE_CANCELED_IRP CsqCompleteCanceledIrp;
    PVOID ReservePointer;
} IO_CSQ, *PIO_CSQ;

typedef struct _IO_CSQ_IRP_CONTEXT
{
    ULONG Type;
    PIRP Irp;
    PIO_CSQ Csq;
} IO_CSQ_IRP_CONTEXT, *PIO_CSQ_IRP_CONTEXT;

/* Callable at any IRQL (documented). */
NTKERNELAPI NTSTATUS IoCsqInitialize(
    _Out_ PIO_CSQ Csq, _In_ PIO_CSQ_INSERT_IRP CsqInsertIrp, _In_ PIO_CSQ_REMOVE_IRP CsqRemoveIrp,
    _In_ PIO_CSQ_PEEK_NEXT_IRP CsqPeekNextIrp, _In_ PIO_CSQ_ACQUIRE_LOCK CsqAcquireLock,
    _In_ PIO_CSQ_RELEASE_LOCK CsqReleaseLock, _In_ PIO_CSQ_COMPLETE_CANCELED_IRP CsqCompleteCanceledIrp);

_IRQL_requires_max_(DISPATCH_LEVEL) NTKERNELAPI VOID IoCsqInsertIrp(_Inout_ PIO_CSQ Csq, _Inout_ PIRP Irp,
                                                                    _Out_opt_ PIO_CSQ_IRP_CONTEXT Context);

_IRQL_requires_max_(DISPATCH_LEVEL) NTKERNELAPI PIRP IoCsqRemoveNextIrp(_Inout_ PIO_CSQ Csq,
                                                                        _In_opt_ PVOID PeekContext);

/* ---------------------------------------------------------------------------------------
 * wdmsec.h: IoCreateDeviceSecure is a macro for the static-library routine.
 * ------------------------------------------------------------------------------------- */

#define IoCreateDeviceSecure WdmlibIoCreateDeviceSecure

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS WdmlibIoCreateDeviceSecure(
    _In_ PDRIVER_OBJECT DriverObject, _In_ ULONG DeviceExtensionSize, _In_opt_ PUNICODE_STRING DeviceName,
    _In_ DEVICE_TYPE DeviceType, _In_ ULONG DeviceCharacteristics, _In_ BOOLEAN Exclusive,
    _In_ PCUNICODE_STRING DefaultSDDLString, _In_opt_ LPCGUID DeviceClassGuid,
    _Out_ PDEVICE_OBJECT *DeviceObject);

EXTERN_C const UNICODE_STRING SDDL_DEVOBJ_SYS_ALL_ADM_ALL;

/* ---------------------------------------------------------------------------------------
 * Executive, kernel, process and debug routines (wdm.h, ntddk.h)
 * ------------------------------------------------------------------------------------- */

/* ExInitializeDriverRuntime (wdm.h, Windows 8+) is an inline routine; DrvRtPoolNxOptIn opts
 * the driver into NonPagedPoolNx.  The host has no pools, so the routine does nothing. */
#define DrvRtPoolNxOptIn 0x00000001

static FORCEINLINE VOID ExInitializeDriverRuntime(_In_ ULONG RuntimeFlags)
{
    (void)RuntimeFlags;
}

/* InterlockedIncrement64 is a compiler intrinsic on Windows; same contract here. */
static FORCEINLINE LONG64 InterlockedIncrement64(_Inout_ _Interlocked_operand_ LONG64 volatile *Addend)
{
    return __atomic_add_fetch(Addend, 1, __ATOMIC_SEQ_CST);
}

/* InterlockedAdd64, InterlockedExchange64 and InterlockedCompareExchange64 are intrinsics (or inline
 * routines over them) on Windows; same contracts here: each returns what the WDK's returns. */
static FORCEINLINE LONG64 InterlockedAdd64(_Inout_ _Interlocked_operand_ LONG64 volatile *Addend, _In_ LONG64 Value)
{
    return __atomic_add_fetch(Addend, Value, __ATOMIC_SEQ_CST);
}

static FORCEINLINE LONG64 InterlockedExchange64(_Inout_ _Interlocked_operand_ LONG64 volatile *Target,
                                                _In_ LONG64 Value)
{
    return __atomic_exchange_n(Target, Value, __ATOMIC_SEQ_CST);
}

static FORCEINLINE LONG64 InterlockedCompareExchange64(_Inout_ _Interlocked_operand_ LONG64 volatile *Destination,
                                                       _In_ LONG64 ExChange, _In_ LONG64 Comperand)
{
    __atomic_compare_exchange_n(Destination, &Comperand, ExChange, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return Comperand; /* the initial value: Comperand when the exchange happened */
}

/* InterlockedIncrement and InterlockedDecrement are compiler intrinsics on Windows, ReadAcquire
 * an inline in wdm.h (a load with acquire semantics); same contracts here. */
static FORCEINLINE LONG InterlockedIncrement(_Inout_ _Interlocked_operand_ LONG volatile *Addend)
{
    return __atomic_add_fetch(Addend, 1, __ATOMIC_SEQ_CST);
}

static FORCEINLINE LONG InterlockedDecrement(_Inout_ _Interlocked_operand_ LONG volatile *Addend)
{
    return __atomic_sub_fetch(Addend, 1, __ATOMIC_SEQ_CST);
}

static FORCEINLINE LONG ReadAcquire(_In_ _Interlocked_operand_ LONG const volatile *Source)
{
    return __atomic_load_n(Source, __ATOMIC_ACQUIRE);
}

#if NTDDI_VERSION >= NTDDI_WIN8
_IRQL_requires_max_(HIGH_LEVEL) NTKERNELAPI VOID KeQuerySystemTimePrecise(_Out_ PLARGE_INTEGER CurrentTime);

_IRQL_requires_min_(PASSIVE_LEVEL) _IRQL_requires_max_(APC_LEVEL) NTKERNELAPI NTSTATUS
KeDelayExecutionThread(_In_ KPROCESSOR_MODE WaitMode, _In_ BOOLEAN Alertable, _In_ PLARGE_INTEGER Interval);
#endif
/* On x64 KeQuerySystemTime is a macro over KUSER_SHARED_DATA; the host declares the routine. */
_IRQL_requires_max_(HIGH_LEVEL) NTKERNELAPI VOID KeQuerySystemTime(_Out_ PLARGE_INTEGER CurrentTime);

NTKERNELAPI HANDLE PsGetCurrentProcessId(VOID);

/* dpfilter.h */
typedef enum _DPFLTR_TYPE
{
    DPFLTR_IHVDRIVER_ID = 77,
    DPFLTR_IHVVIDEO_ID = 78,
    DPFLTR_IHVAUDIO_ID = 79,
    DPFLTR_IHVNETWORK_ID = 80,
    DPFLTR_IHVSTREAMING_ID = 81,
    DPFLTR_IHVBUS_ID = 82,
} DPFLTR_TYPE;

#define DPFLTR_ERROR_LEVEL   0
#define DPFLTR_WARNING_LEVEL 1
#define DPFLTR_TRACE_LEVEL   2
#define DPFLTR_INFO_LEVEL    3
#define DPFLTR_MASK          0x80000000

/* No format attribute on purpose: Windows is LLP64 (long is 32 bits), Linux is LP64, so
 * a format string that is right for Windows ("%lX" with a ULONG) would be flagged here. */
NTSYSAPI ULONG DbgPrintEx(_In_ ULONG ComponentId, _In_ ULONG Level, _In_z_ _Printf_format_string_ PCSTR Format,
                          ...);

/* Pool routines (wdm.h).  The allocator pairing lets gcc's -Wmismatched-dealloc /
 * -Wuse-after-free and -fanalyzer track pool memory. */
typedef enum _POOL_TYPE
{
    NonPagedPool,
    NonPagedPoolExecute = NonPagedPool,
    PagedPool,
    NonPagedPoolMustSucceed = NonPagedPool + 2,
    DontUseThisType,
    NonPagedPoolCacheAligned = NonPagedPool + 4,
    PagedPoolCacheAligned,
    NonPagedPoolCacheAlignedMustS = NonPagedPool + 6,
    MaxPoolType,
    NonPagedPoolBase = 0,
    NonPagedPoolBaseMustSucceed = NonPagedPoolBase + 2,
    NonPagedPoolBaseCacheAligned = NonPagedPoolBase + 4,
    NonPagedPoolBaseCacheAlignedMustS = NonPagedPoolBase + 6,
    NonPagedPoolSession = 32,
    PagedPoolSession = NonPagedPoolSession + 1,
    NonPagedPoolMustSucceedSession = PagedPoolSession + 1,
    DontUseThisTypeSession = NonPagedPoolMustSucceedSession + 1,
    NonPagedPoolCacheAlignedSession = DontUseThisTypeSession + 1,
    PagedPoolCacheAlignedSession = NonPagedPoolCacheAlignedSession + 1,
    NonPagedPoolCacheAlignedMustSSession = PagedPoolCacheAlignedSession + 1,
    NonPagedPoolNx = 512,
    NonPagedPoolNxCacheAligned = NonPagedPoolNx + 4,
    NonPagedPoolSessionNx = NonPagedPoolNx + 32,
} POOL_TYPE;

/* ExAllocatePool2 and POOL_FLAGS: Windows 10 2004+. */
typedef ULONG64 POOL_FLAGS;
#define POOL_FLAG_NON_PAGED 0x0000000000000040ULL

#if defined(__GNUC__)
_IRQL_requires_max_(DISPATCH_LEVEL) NTKERNELAPI VOID ExFreePoolWithTag(_Pre_notnull_ __drv_freesMem(Mem) PVOID P,
                                                                        _In_ ULONG Tag);

#if NTDDI_VERSION >= NTDDI_WIN10_VB
_IRQL_requires_max_(DISPATCH_LEVEL) NTKERNELAPI DECLSPEC_RESTRICT PVOID ExAllocatePool2(
    _In_ POOL_FLAGS Flags, _In_ SIZE_T NumberOfBytes, _In_ ULONG Tag)
#if !defined(__clang__) && __GNUC__ >= 11
    __attribute__((malloc, malloc(ExFreePoolWithTag, 1)));
#else
    __attribute__((malloc)); /* the deallocator form needs gcc 11 */
#endif
#endif

/* The allocator before ExAllocatePool2; ExAllocatePoolZero wraps it. */
_IRQL_requires_max_(DISPATCH_LEVEL) NTKERNELAPI DECLSPEC_RESTRICT PVOID ExAllocatePoolWithTag(
    _In_ __drv_strictTypeMatch(__drv_typeExpr) POOL_TYPE PoolType, _In_ SIZE_T NumberOfBytes, _In_ ULONG Tag)
#if !defined(__clang__) && __GNUC__ >= 11
    __attribute__((malloc, malloc(ExFreePoolWithTag, 1)));
#else
    __attribute__((malloc));
#endif

/* ExAllocatePoolZero is an inline routine of wdm.h (WDK for Windows 10 2004 and later,
 * targets Windows 7 and later).  The WDK's version asks ExAllocatePoolWithTag for zeroed
 * memory with the POOL_ZERO_ALLOCATION pool-type bit, which only Windows 10 2004+ honours;
 * to run on older Windows a driver must define POOL_ZERO_DOWN_LEVEL_SUPPORT (the wrapper
 * then zeroes the block itself where the kernel does not) and call ExInitializeDriverRuntime
 * first.  The host cannot tell the Windows version, so it always zeroes, and does NOT
 * check POOL_ZERO_DOWN_LEVEL_SUPPORT.  (No deallocator attribute here: gcc makes such
 * functions noinline; the memory still comes from ExAllocatePoolWithTag, which has it.) */
_IRQL_requires_max_(DISPATCH_LEVEL) static FORCEINLINE DECLSPEC_RESTRICT PVOID ExAllocatePoolZero(
    _In_ __drv_strictTypeMatch(__drv_typeExpr) POOL_TYPE PoolType, _In_ SIZE_T NumberOfBytes, _In_ ULONG Tag)
{
    PVOID Entry = ExAllocatePoolWithTag(PoolType, NumberOfBytes, Tag);

    if (Entry != NULL)
    {
        RtlZeroMemory(Entry, NumberOfBytes);
    }
    return Entry;
}
#endif

/* ---------------------------------------------------------------------------------------
 * fwptypes.h
 * ------------------------------------------------------------------------------------- */

typedef enum FWP_DIRECTION_
{
    FWP_DIRECTION_OUTBOUND = 0,
    FWP_DIRECTION_INBOUND = 1,
    FWP_DIRECTION_MAX = 2,
} FWP_DIRECTION;

typedef enum FWP_DATA_TYPE_
{
    FWP_EMPTY = 0,
    FWP_UINT8 = 1,
    FWP_UINT16 = 2,
    FWP_UINT32 = 3,
    FWP_UINT64 = 4,
    FWP_INT8 = 5,
    FWP_INT16 = 6,
    FWP_INT32 = 7,
    FWP_INT64 = 8,
    FWP_FLOAT = 9,
    FWP_DOUBLE = 10,
    FWP_BYTE_ARRAY16_TYPE = 11,
    FWP_BYTE_BLOB_TYPE = 12,
    FWP_SID = 13,
    FWP_SECURITY_DESCRIPTOR_TYPE = 14,
    FWP_TOKEN_INFORMATION_TYPE = 15,
    FWP_TOKEN_ACCESS_INFORMATION_TYPE = 16,
    FWP_UNICODE_STRING_TYPE = 17,
    FWP_BYTE_ARRAY6_TYPE = 18,
    FWP_SINGLE_DATA_TYPE_MAX = 0xff,
    FWP_V4_ADDR_MASK = 0x100,
    FWP_V6_ADDR_MASK = 0x101,
    FWP_RANGE_TYPE = 0x102,
    FWP_DATA_TYPE_MAX = 0x103,
} FWP_DATA_TYPE;

typedef enum FWP_MATCH_TYPE_
{
    FWP_MATCH_EQUAL = 0,
    FWP_MATCH_GREATER = 1,
    FWP_MATCH_LESS = 2,
    FWP_MATCH_GREATER_OR_EQUAL = 3,
    FWP_MATCH_LESS_OR_EQUAL = 4,
    FWP_MATCH_RANGE = 5,
    FWP_MATCH_FLAGS_ALL_SET = 6,
    FWP_MATCH_FLAGS_ANY_SET = 7,
    FWP_MATCH_FLAGS_NONE_SET = 8,
    FWP_MATCH_EQUAL_CASE_INSENSITIVE = 9,
    FWP_MATCH_NOT_EQUAL = 10,
    FWP_MATCH_PREFIX = 11,
    FWP_MATCH_NOT_PREFIX = 12,
    FWP_MATCH_TYPE_MAX = 13,
} FWP_MATCH_TYPE;

typedef UINT32 FWP_ACTION_TYPE;

#define FWP_ACTION_FLAG_TERMINATING     (0x00001000)
#define FWP_ACTION_FLAG_NON_TERMINATING (0x00002000)
#define FWP_ACTION_FLAG_CALLOUT         (0x00004000)

#define FWP_ACTION_BLOCK               (0x00000001 | FWP_ACTION_FLAG_TERMINATING)
#define FWP_ACTION_PERMIT              (0x00000002 | FWP_ACTION_FLAG_TERMINATING)
#define FWP_ACTION_CALLOUT_TERMINATING (0x00000003 | FWP_ACTION_FLAG_CALLOUT | FWP_ACTION_FLAG_TERMINATING)
#define FWP_ACTION_CALLOUT_INSPECTION  (0x00000004 | FWP_ACTION_FLAG_CALLOUT | FWP_ACTION_FLAG_NON_TERMINATING)
#define FWP_ACTION_CALLOUT_UNKNOWN     (0x00000005 | FWP_ACTION_FLAG_CALLOUT)
#define FWP_ACTION_CONTINUE            (0x00000006 | FWP_ACTION_FLAG_NON_TERMINATING)
#define FWP_ACTION_NONE                (0x00000007)
#define FWP_ACTION_NONE_NO_MATCH       (0x00000008)

#define FWP_V6_ADDR_SIZE (16)

typedef struct FWP_BYTE_ARRAY16_
{
    UINT8 byteArray16[16];
} FWP_BYTE_ARRAY16;

typedef struct FWP_BYTE_ARRAY6_
{
    UINT8 byteArray6[6];
} FWP_BYTE_ARRAY6;

typedef struct FWP_BYTE_BLOB_
{
    UINT32 size;
    UINT8 *data;
} FWP_BYTE_BLOB;

typedef struct FWP_TOKEN_INFORMATION_
{
    UINT32 sidCount;
    SID_AND_ATTRIBUTES *sids;
    UINT32 restrictedSidCount;
    SID_AND_ATTRIBUTES *restrictedSids;
} FWP_TOKEN_INFORMATION;

typedef struct FWP_VALUE0_
{
    FWP_DATA_TYPE type;
    union
    {
        UINT8 uint8;
        UINT16 uint16;
        UINT32 uint32;
        UINT64 *uint64;
        INT8 int8;
        INT16 int16;
        INT32 int32;
        INT64 *int64;
        float float32;
        double *double64;
        FWP_BYTE_ARRAY16 *byteArray16;
        FWP_BYTE_BLOB *byteBlob;
        SID *sid;
        FWP_BYTE_BLOB *sd;
        FWP_TOKEN_INFORMATION *tokenInformation;
        FWP_BYTE_BLOB *tokenAccessInformation;
        LPWSTR unicodeString;
        FWP_BYTE_ARRAY6 *byteArray6;
    };
} FWP_VALUE0;

typedef struct FWP_V4_ADDR_AND_MASK_
{
    UINT32 addr;
    UINT32 mask;
} FWP_V4_ADDR_AND_MASK;

typedef struct FWP_V6_ADDR_AND_MASK_
{
    UINT8 addr[FWP_V6_ADDR_SIZE];
    UINT8 prefixLength;
} FWP_V6_ADDR_AND_MASK;

typedef struct FWP_RANGE0_
{
    FWP_VALUE0 valueLow;
    FWP_VALUE0 valueHigh;
} FWP_RANGE0;

typedef struct FWP_CONDITION_VALUE0_
{
    FWP_DATA_TYPE type;
    union
    {
        UINT8 uint8;
        UINT16 uint16;
        UINT32 uint32;
        UINT64 *uint64;
        INT8 int8;
        INT16 int16;
        INT32 int32;
        INT64 *int64;
        float float32;
        double *double64;
        FWP_BYTE_ARRAY16 *byteArray16;
        FWP_BYTE_BLOB *byteBlob;
        SID *sid;
        FWP_BYTE_BLOB *sd;
        FWP_TOKEN_INFORMATION *tokenInformation;
        FWP_BYTE_BLOB *tokenAccessInformation;
        LPWSTR unicodeString;
        FWP_BYTE_ARRAY6 *byteArray6;
        FWP_V4_ADDR_AND_MASK *v4AddrMask;
        FWP_V6_ADDR_AND_MASK *v6AddrMask;
        FWP_RANGE0 *rangeValue;
    };
} FWP_CONDITION_VALUE0;

/* ---------------------------------------------------------------------------------------
 * fwpmtypes.h
 * ------------------------------------------------------------------------------------- */

typedef struct FWPM_DISPLAY_DATA0_
{
    wchar_t *name;
    wchar_t *description;
} FWPM_DISPLAY_DATA0;

#define FWPM_SESSION_FLAG_DYNAMIC (0x00000001)

typedef struct FWPM_SESSION0_
{
    GUID sessionKey;
    FWPM_DISPLAY_DATA0 displayData;
    UINT32 flags;
    UINT32 txnWaitTimeoutInMSec;
    DWORD processId;
    SID *sid;
    wchar_t *username;
    BOOL kernelMode;
} FWPM_SESSION0;

typedef struct FWPM_PROVIDER0_
{
    GUID providerKey;
    FWPM_DISPLAY_DATA0 displayData;
    UINT32 flags;
    FWP_BYTE_BLOB providerData;
    wchar_t *serviceName;
} FWPM_PROVIDER0;

typedef struct FWPM_SUBLAYER0_
{
    GUID subLayerKey;
    FWPM_DISPLAY_DATA0 displayData;
    UINT32 flags;
    GUID *providerKey;
    FWP_BYTE_BLOB providerData;
    UINT16 weight;
} FWPM_SUBLAYER0;

#define FWP_CALLOUT_FLAG_CONDITIONAL_ON_FLOW (0x00000001)

typedef struct FWPM_CALLOUT0_
{
    GUID calloutKey;
    FWPM_DISPLAY_DATA0 displayData;
    UINT32 flags;
    GUID *providerKey;
    FWP_BYTE_BLOB providerData;
    GUID applicableLayer;
    UINT32 calloutId;
} FWPM_CALLOUT0;

typedef struct FWPM_FILTER_CONDITION0_
{
    GUID fieldKey;
    FWP_MATCH_TYPE matchType;
    FWP_CONDITION_VALUE0 conditionValue;
} FWPM_FILTER_CONDITION0;

typedef struct FWPM_ACTION0_
{
    FWP_ACTION_TYPE type;
    union
    {
        GUID filterType;
        GUID calloutKey;
    };
} FWPM_ACTION0;

typedef struct FWPM_FILTER0_
{
    GUID filterKey;
    FWPM_DISPLAY_DATA0 displayData;
    UINT32 flags;
    GUID *providerKey;
    FWP_BYTE_BLOB providerData;
    GUID layerKey;
    GUID subLayerKey;
    FWP_VALUE0 weight;
    UINT32 numFilterConditions;
    FWPM_FILTER_CONDITION0 *filterCondition;
    FWPM_ACTION0 action;
    union
    {
        UINT64 rawContext;
        GUID providerContextKey;
    };
    GUID *reserved;
    UINT64 filterId;
    FWP_VALUE0 effectiveWeight;
} FWPM_FILTER0;

/* ---------------------------------------------------------------------------------------
 * fwpstypes.h / fwpsk.h: run-time (callout) side
 * ------------------------------------------------------------------------------------- */

#define FWPS_RIGHT_ACTION_WRITE 0x00000001

typedef struct FWPS_CLASSIFY_OUT0_
{
    FWP_ACTION_TYPE actionType;
    UINT64 outContext;
    UINT64 filterId;
    UINT32 rights;
    UINT32 flags;
    UINT32 reserved;
} FWPS_CLASSIFY_OUT0;

typedef enum FWPS_CALLOUT_NOTIFY_TYPE_
{
    FWPS_CALLOUT_NOTIFY_ADD_FILTER = 0,
    FWPS_CALLOUT_NOTIFY_DELETE_FILTER = (FWPS_CALLOUT_NOTIFY_ADD_FILTER + 1),
    FWPS_CALLOUT_NOTIFY_ADD_FILTER_POST_COMMIT = (FWPS_CALLOUT_NOTIFY_DELETE_FILTER + 1),
    FWPS_CALLOUT_NOTIFY_TYPE_MAX = (FWPS_CALLOUT_NOTIFY_ADD_FILTER_POST_COMMIT + 1)
} FWPS_CALLOUT_NOTIFY_TYPE;

typedef struct FWPS_INCOMING_VALUE0_
{
    FWP_VALUE0 value;
} FWPS_INCOMING_VALUE0;

typedef struct FWPS_INCOMING_VALUES0_
{
    UINT16 layerId;
    UINT32 valueCount;
    FWPS_INCOMING_VALUE0 *incomingValue;
} FWPS_INCOMING_VALUES0;

/* FWPS_METADATA_FIELD_* (fwpsk.h): bits of currentMetadataValues. */
#define FWPS_METADATA_FIELD_DISCARD_REASON                  0x00000001
#define FWPS_METADATA_FIELD_FLOW_HANDLE                     0x00000002
#define FWPS_METADATA_FIELD_IP_HEADER_SIZE                  0x00000004
#define FWPS_METADATA_FIELD_PROCESS_PATH                    0x00000008
#define FWPS_METADATA_FIELD_TOKEN                           0x00000010
#define FWPS_METADATA_FIELD_PROCESS_ID                      0x00000020
#define FWPS_METADATA_FIELD_SYSTEM_FLAGS                    0x00000040
#define FWPS_METADATA_FIELD_RESERVED                        0x00000080
#define FWPS_METADATA_FIELD_SOURCE_INTERFACE_INDEX          0x00000100
#define FWPS_METADATA_FIELD_DESTINATION_INTERFACE_INDEX     0x00000200
#define FWPS_METADATA_FIELD_TRANSPORT_HEADER_SIZE           0x00000400
#define FWPS_METADATA_FIELD_COMPARTMENT_ID                  0x00000800
#define FWPS_METADATA_FIELD_FRAGMENT_DATA                   0x00001000
#define FWPS_METADATA_FIELD_PATH_MTU                        0x00002000
#define FWPS_METADATA_FIELD_COMPLETION_HANDLE               0x00004000
#define FWPS_METADATA_FIELD_TRANSPORT_ENDPOINT_HANDLE       0x00008000
#define FWPS_METADATA_FIELD_TRANSPORT_CONTROL_DATA          0x00010000
#define FWPS_METADATA_FIELD_REMOTE_SCOPE_ID                 0x00020000
#define FWPS_METADATA_FIELD_PACKET_DIRECTION                0x00040000
#define FWPS_METADATA_FIELD_PACKET_SYSTEM_CRITICAL          0x00080000
#define FWPS_METADATA_FIELD_FORWARD_LAYER_OUTBOUND_PASS_THRU 0x00100000
#define FWPS_METADATA_FIELD_FORWARD_LAYER_INBOUND_PASS_THRU 0x00200000
#define FWPS_METADATA_FIELD_ALE_CLASSIFY_REQUIRED           0x00400000
#define FWPS_METADATA_FIELD_TRANSPORT_HEADER_INCLUDE_HEADER 0x00800000
#define FWPS_METADATA_FIELD_DESTINATION_PREFIX              0x01000000
#define FWPS_METADATA_FIELD_ETHER_FRAME_LENGTH              0x02000000
#define FWPS_METADATA_FIELD_PARENT_ENDPOINT_HANDLE          0x04000000
#define FWPS_METADATA_FIELD_ICMP_ID_AND_SEQUENCE            0x08000000
#define FWPS_METADATA_FIELD_LOCAL_REDIRECT_TARGET_PID       0x10000000
#define FWPS_METADATA_FIELD_ORIGINAL_DESTINATION            0x20000000
#if NTDDI_VERSION >= NTDDI_WIN8
#define FWPS_METADATA_FIELD_REDIRECT_RECORD_HANDLE          0x40000000
#define FWPS_METADATA_FIELD_SUB_PROCESS_TAG                 0x80000000
#endif

/*
 * FWPS_INCOMING_METADATA_VALUES0 - SUBSET, for type checking only.
 * Members appear in the header's order with the header's types, but members whose types
 * the generated code never needs (discardMetadata, fragmentMetadata, remoteScopeId,
 * controlData, controlDataLength, destinationPrefix, originalDestination, the L2 and
 * vSwitch members, reserved1) are left out.  Offsets and size are therefore NOT those of
 * the real structure: never derive a layout from this declaration.
 */
typedef struct FWPS_INCOMING_METADATA_VALUES0_
{
    UINT32 currentMetadataValues;
    UINT32 flags;
    UINT64 reserved;
    UINT64 flowHandle;
    UINT32 ipHeaderSize;
    UINT32 transportHeaderSize;
    FWP_BYTE_BLOB *processPath;
    UINT64 token;
    UINT64 processId;
    UINT32 sourceInterfaceIndex;
    UINT32 destinationInterfaceIndex;
    ULONG compartmentId;
    ULONG pathMtu;
    HANDLE completionHandle;
    UINT64 transportEndpointHandle;
    FWP_DIRECTION packetDirection;
    PVOID headerIncludeHeader;
    ULONG headerIncludeHeaderLength;
    UINT16 frameLength;
    UINT64 parentEndpointHandle;
    UINT32 icmpIdAndSequence;
    DWORD localRedirectTargetPID;
#if NTDDI_VERSION >= NTDDI_WIN8
    HANDLE redirectRecords;
    PVOID subProcessTag;
#endif
} FWPS_INCOMING_METADATA_VALUES0;

#define FWPS_IS_METADATA_FIELD_PRESENT(metadataValues, metadataField)                                    \
    (((metadataValues)->currentMetadataValues & (metadataField)) == (metadataField))

/* The filter structures are passed through only: incomplete on purpose. */
typedef struct FWPS_FILTER1_ FWPS_FILTER1;
#if NTDDI_VERSION >= NTDDI_WIN8
typedef struct FWPS_FILTER2_ FWPS_FILTER2;
#endif
#if NTDDI_VERSION >= NTDDI_WIN10_RS3
typedef struct FWPS_FILTER3_ FWPS_FILTER3;
#endif

typedef void(NTAPI *FWPS_CALLOUT_CLASSIFY_FN1)(_In_ const FWPS_INCOMING_VALUES0 *inFixedValues,
                                               _In_ const FWPS_INCOMING_METADATA_VALUES0 *inMetaValues,
                                               _Inout_opt_ void *layerData,
                                               _In_opt_ const void *classifyContext,
                                               _In_ const FWPS_FILTER1 *filter,
                                               _In_ UINT64 flowContext,
                                               _Inout_ FWPS_CLASSIFY_OUT0 *classifyOut);

#if NTDDI_VERSION >= NTDDI_WIN8
typedef void(NTAPI *FWPS_CALLOUT_CLASSIFY_FN2)(_In_ const FWPS_INCOMING_VALUES0 *inFixedValues,
                                               _In_ const FWPS_INCOMING_METADATA_VALUES0 *inMetaValues,
                                               _Inout_opt_ void *layerData,
                                               _In_opt_ const void *classifyContext,
                                               _In_ const FWPS_FILTER2 *filter,
                                               _In_ UINT64 flowContext,
                                               _Inout_ FWPS_CLASSIFY_OUT0 *classifyOut);
#endif

#if NTDDI_VERSION >= NTDDI_WIN10_RS3
typedef void(NTAPI *FWPS_CALLOUT_CLASSIFY_FN3)(_In_ const FWPS_INCOMING_VALUES0 *inFixedValues,
                                               _In_ const FWPS_INCOMING_METADATA_VALUES0 *inMetaValues,
                                               _Inout_opt_ void *layerData,
                                               _In_opt_ const void *classifyContext,
                                               _In_ const FWPS_FILTER3 *filter,
                                               _In_ UINT64 flowContext,
                                               _Inout_ FWPS_CLASSIFY_OUT0 *classifyOut);
#endif

typedef NTSTATUS(NTAPI *FWPS_CALLOUT_NOTIFY_FN1)(_In_ FWPS_CALLOUT_NOTIFY_TYPE notifyType,
                                                 _In_ const GUID *filterKey,
                                                 _Inout_ FWPS_FILTER1 *filter);

#if NTDDI_VERSION >= NTDDI_WIN8
typedef NTSTATUS(NTAPI *FWPS_CALLOUT_NOTIFY_FN2)(_In_ FWPS_CALLOUT_NOTIFY_TYPE notifyType,
                                                 _In_ const GUID *filterKey,
                                                 _Inout_ FWPS_FILTER2 *filter);
#endif

#if NTDDI_VERSION >= NTDDI_WIN10_RS3
typedef NTSTATUS(NTAPI *FWPS_CALLOUT_NOTIFY_FN3)(_In_ FWPS_CALLOUT_NOTIFY_TYPE notifyType,
                                                 _In_ const GUID *filterKey,
                                                 _Inout_ FWPS_FILTER3 *filter);
#endif

typedef void(NTAPI *FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0)(_In_ UINT16 layerId,
                                                         _In_ UINT32 calloutId,
                                                         _In_ UINT64 flowContext);

typedef struct FWPS_CALLOUT1_
{
    GUID calloutKey;
    UINT32 flags;
    FWPS_CALLOUT_CLASSIFY_FN1 classifyFn;
    FWPS_CALLOUT_NOTIFY_FN1 notifyFn;
    FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0 flowDeleteFn;
} FWPS_CALLOUT1;

#if NTDDI_VERSION >= NTDDI_WIN8
typedef struct FWPS_CALLOUT2_
{
    GUID calloutKey;
    UINT32 flags;
    FWPS_CALLOUT_CLASSIFY_FN2 classifyFn;
    FWPS_CALLOUT_NOTIFY_FN2 notifyFn;
    FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0 flowDeleteFn;
} FWPS_CALLOUT2;
#endif

#if NTDDI_VERSION >= NTDDI_WIN10_RS3
typedef struct FWPS_CALLOUT3_
{
    GUID calloutKey;
    UINT32 flags;
    FWPS_CALLOUT_CLASSIFY_FN3 classifyFn;
    FWPS_CALLOUT_NOTIFY_FN3 notifyFn;
    FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0 flowDeleteFn;
} FWPS_CALLOUT3;
#endif

_IRQL_requires_(PASSIVE_LEVEL) _Must_inspect_result_ NTSTATUS FwpsCalloutRegister1(
    _Inout_ void *deviceObject, _In_ const FWPS_CALLOUT1 *callout, _Out_opt_ UINT32 *calloutId);

#if NTDDI_VERSION >= NTDDI_WIN8
_IRQL_requires_(PASSIVE_LEVEL) _Must_inspect_result_ NTSTATUS FwpsCalloutRegister2(
    _Inout_ void *deviceObject, _In_ const FWPS_CALLOUT2 *callout, _Out_opt_ UINT32 *calloutId);
#endif

#if NTDDI_VERSION >= NTDDI_WIN10_RS3
_IRQL_requires_(PASSIVE_LEVEL) _Must_inspect_result_ NTSTATUS FwpsCalloutRegister3(
    _Inout_ void *deviceObject, _In_ const FWPS_CALLOUT3 *callout, _Out_opt_ UINT32 *calloutId);
#endif

_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS FwpsCalloutUnregisterById0(_In_ const UINT32 calloutId);

_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS FwpsCalloutUnregisterByKey0(_In_ const GUID *calloutKey);

_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS FwpsFlowAssociateContext0(_In_ UINT64 flowId, _In_ UINT16 layerId,
                                                                        _In_ UINT32 calloutId,
                                                                        _In_ UINT64 flowContext);

_IRQL_requires_max_(DISPATCH_LEVEL) NTSTATUS FwpsFlowRemoveContext0(_In_ UINT64 flowId, _In_ UINT16 layerId,
                                                                     _In_ UINT32 calloutId);

/* ---------------------------------------------------------------------------------------
 * fwpmk.h: kernel-mode management API (returns NTSTATUS, unlike fwpmu.h's DWORD)
 * ------------------------------------------------------------------------------------- */

#define RPC_C_AUTHN_WINNT   10

typedef struct _SEC_WINNT_AUTH_IDENTITY_W SEC_WINNT_AUTH_IDENTITY_W;

_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS FwpmEngineOpen0(_In_opt_ const wchar_t *serverName,
                                                        _In_ UINT32 authnService,
                                                        _In_opt_ SEC_WINNT_AUTH_IDENTITY_W *authIdentity,
                                                        _In_opt_ const FWPM_SESSION0 *session,
                                                        _Out_ HANDLE *engineHandle);

_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS FwpmEngineClose0(_Inout_ HANDLE engineHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS FwpmTransactionBegin0(_In_ HANDLE engineHandle, _In_ UINT32 flags);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS FwpmTransactionCommit0(_In_ HANDLE engineHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS FwpmTransactionAbort0(_In_ HANDLE engineHandle);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS FwpmProviderAdd0(_In_ HANDLE engineHandle,
                                                             _In_ const FWPM_PROVIDER0 *provider,
                                                             _In_opt_ PSECURITY_DESCRIPTOR sd);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS FwpmSubLayerAdd0(_In_ HANDLE engineHandle,
                                                             _In_ const FWPM_SUBLAYER0 *subLayer,
                                                             _In_opt_ PSECURITY_DESCRIPTOR sd);

_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS FwpmCalloutAdd0(_In_ HANDLE engineHandle,
                                                        _In_ const FWPM_CALLOUT0 *callout,
                                                        _In_opt_ PSECURITY_DESCRIPTOR sd,
                                                        _Out_opt_ UINT32 *id);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS FwpmFilterAdd0(_In_ HANDLE engineHandle,
                                                           _In_ const FWPM_FILTER0 *filter,
                                                           _In_opt_ PSECURITY_DESCRIPTOR sd,
                                                           _Out_opt_ UINT64 *id);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS FwpmFilterDeleteById0(_In_ HANDLE engineHandle, _In_ UINT64 id);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS FwpmFilterDeleteByKey0(_In_ HANDLE engineHandle, _In_ const GUID *key);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS FwpmCalloutDeleteById0(_In_ HANDLE engineHandle, _In_ UINT32 id);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS FwpmCalloutDeleteByKey0(_In_ HANDLE engineHandle, _In_ const GUID *key);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS FwpmSubLayerDeleteByKey0(_In_ HANDLE engineHandle, _In_ const GUID *key);

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS FwpmProviderDeleteByKey0(_In_ HANDLE engineHandle, _In_ const GUID *key);

#endif /* HOSTWDK_H */
