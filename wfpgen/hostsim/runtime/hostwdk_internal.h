/*
 * hostwdk_internal.h - what the host runtime's source files (core.c, io.c, fwp.c) share.
 * Not for drivers or harnesses: they use the WDK stand-in headers and hostwdk_test.h.
 *
 * Locking, in the order a thread may take them (never the reverse):
 *   g_engine_lock (pthread rwlock)  filter engine objects; classify holds it for reading
 *   g_io_mutex                       devices, links, handles, IRPs (+ g_io_cond)
 *   g_pool_mutex                     pool blocks
 *   g_etw_mutex                      TraceLogging providers and stored events (etw.c)
 *   g_violation_mutex                violation text
 * No runtime lock is held while driver code runs, except g_engine_lock for reading around
 * classifyFn (as WFP keeps a callout registered while its classifyFn runs).  Readers of a
 * pthread rwlock do not synchronise with each other, so concurrent classifies stay
 * unordered for ThreadSanitizer: only the driver's own spin locks order them.  Counters,
 * the call log and the spin-lock table use atomics without release/acquire pairs on the
 * classify path, for the same reason.
 */

#pragma once

/*
 * The runtime is compiled with the driver's defines, so NTDDI_VERSION arrives as the target
 * of the driver, but the runtime plays the running system: it offers every routine (the
 * FwpsCalloutRegister3 of Windows 10 1709 as well) and fills every structure up to its last
 * member whatever a driver targets.  Each runtime file therefore sees the newest headers;
 * this comes before anything is included (core.c, fwp.c and io.c include this header
 * first).  Nothing a driver and the runtime share differs in a harmful way: the only
 * structure whose layout grows with NTDDI_VERSION, FWPS_INCOMING_METADATA_VALUES0, is the
 * runtime's own, and a driver for an older target reads a prefix of it.  The value is the
 * newest NTDDI_VERSION of wfp_catalog.c (generated from wdk_facts.json); the tests check
 * that every runtime file agrees.
 */
#undef NTDDI_VERSION
#define NTDDI_VERSION 0x0A000010 /* NTDDI_WIN11_GE */

#include <ntddk.h>
#include <ndis.h>
#include <fwpsk.h>
#include <fwpmk.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hostwdk_test.h"
#include "wfp_catalog.h"

/* -- the APIs the runtime implements: name, highest IRQL allowed, flags ---------------------- */

#define HW_F_STATUS 0x1u /* returns an NTSTATUS: fault injection makes it fail with a status */
#define HW_F_NULL   0x2u /* allocator: fault injection makes it return NULL */
#define HW_F_QUIET  0x4u /* hot path: counted, not written to the call log */

#define HW_APIS(X)                                                                                 \
    X(KeAcquireSpinLockRaiseToDpc, DISPATCH_LEVEL, HW_F_QUIET)                                     \
    X(KeReleaseSpinLock, DISPATCH_LEVEL, HW_F_QUIET)                                               \
    X(KeAcquireInStackQueuedSpinLock, DISPATCH_LEVEL, HW_F_QUIET)                                  \
    X(KeReleaseInStackQueuedSpinLock, DISPATCH_LEVEL, HW_F_QUIET)                                  \
    X(KeGetCurrentIrql, HIGH_LEVEL, HW_F_QUIET)                                                    \
    X(KeGetCurrentProcessorNumberEx, HIGH_LEVEL, HW_F_QUIET)                                       \
    X(KeQueryActiveProcessorCountEx, HIGH_LEVEL, HW_F_QUIET)                                       \
    X(HostWdkCheckPagedCode, HIGH_LEVEL, HW_F_QUIET)                                               \
    X(HostWdkAssertFailed, HIGH_LEVEL, HW_F_QUIET)                                                 \
    X(KeQuerySystemTimePrecise, HIGH_LEVEL, HW_F_QUIET)                                            \
    X(KeQuerySystemTime, HIGH_LEVEL, HW_F_QUIET)                                                   \
    X(PsGetCurrentProcessId, HIGH_LEVEL, HW_F_QUIET)                                               \
    X(KeDelayExecutionThread, APC_LEVEL, 0)                                                        \
    X(DbgPrintEx, HIGH_LEVEL, 0)                                                                   \
    X(ExAllocatePool2, DISPATCH_LEVEL, HW_F_NULL)                                                  \
    X(ExAllocatePoolWithTag, DISPATCH_LEVEL, HW_F_NULL)                                            \
    X(ExFreePoolWithTag, DISPATCH_LEVEL, 0)                                                        \
    X(IoCreateDevice, PASSIVE_LEVEL, HW_F_STATUS)                                                  \
    X(WdmlibIoCreateDeviceSecure, PASSIVE_LEVEL, HW_F_STATUS)                                      \
    X(IoDeleteDevice, PASSIVE_LEVEL, 0)                                                            \
    X(IoCreateSymbolicLink, PASSIVE_LEVEL, HW_F_STATUS)                                            \
    X(IoDeleteSymbolicLink, PASSIVE_LEVEL, HW_F_STATUS)                                            \
    X(IofCompleteRequest, DISPATCH_LEVEL, 0)                                                       \
    X(IoCsqInitialize, HIGH_LEVEL, HW_F_STATUS)                                                    \
    X(IoCsqInsertIrp, DISPATCH_LEVEL, HW_F_QUIET)                                                  \
    X(IoCsqRemoveNextIrp, DISPATCH_LEVEL, HW_F_QUIET)                                              \
    X(FwpsCalloutRegister1, PASSIVE_LEVEL, HW_F_STATUS)                                            \
    X(FwpsCalloutRegister2, PASSIVE_LEVEL, HW_F_STATUS)                                            \
    X(FwpsCalloutRegister3, PASSIVE_LEVEL, HW_F_STATUS)                                            \
    X(FwpsCalloutUnregisterById0, PASSIVE_LEVEL, HW_F_STATUS)                                      \
    X(FwpsCalloutUnregisterByKey0, PASSIVE_LEVEL, HW_F_STATUS)                                     \
    X(FwpsFlowAssociateContext0, DISPATCH_LEVEL, HW_F_STATUS)                                      \
    X(FwpsFlowRemoveContext0, DISPATCH_LEVEL, 0)                                                   \
    X(FwpmEngineOpen0, PASSIVE_LEVEL, HW_F_STATUS)                                                 \
    X(FwpmEngineClose0, PASSIVE_LEVEL, HW_F_STATUS)                                                \
    X(FwpmTransactionBegin0, PASSIVE_LEVEL, HW_F_STATUS)                                           \
    X(FwpmTransactionCommit0, PASSIVE_LEVEL, HW_F_STATUS)                                          \
    X(FwpmTransactionAbort0, PASSIVE_LEVEL, HW_F_STATUS)                                           \
    X(FwpmProviderAdd0, PASSIVE_LEVEL, HW_F_STATUS)                                                \
    X(FwpmProviderDeleteByKey0, PASSIVE_LEVEL, HW_F_STATUS)                                        \
    X(FwpmSubLayerAdd0, PASSIVE_LEVEL, HW_F_STATUS)                                                \
    X(FwpmSubLayerDeleteByKey0, PASSIVE_LEVEL, HW_F_STATUS)                                        \
    X(FwpmCalloutAdd0, PASSIVE_LEVEL, HW_F_STATUS)                                                 \
    X(FwpmCalloutDeleteById0, PASSIVE_LEVEL, HW_F_STATUS)                                          \
    X(FwpmCalloutDeleteByKey0, PASSIVE_LEVEL, HW_F_STATUS)                                         \
    X(FwpmFilterAdd0, PASSIVE_LEVEL, HW_F_STATUS)                                                  \
    X(FwpmFilterDeleteById0, PASSIVE_LEVEL, HW_F_STATUS)                                           \
    X(FwpmFilterDeleteByKey0, PASSIVE_LEVEL, HW_F_STATUS)                                          \
    X(TraceLoggingRegister, PASSIVE_LEVEL, HW_F_STATUS)                                            \
    X(TraceLoggingUnregister, PASSIVE_LEVEL, 0)                                                    \
    X(TraceLoggingProviderEnabled, HIGH_LEVEL, HW_F_QUIET)                                         \
    X(TraceLoggingWrite, HIGH_LEVEL, HW_F_QUIET)

typedef enum _HW_API
{
#define HW_API_ENUM(name, irql, flags) HW_API_##name,
    HW_APIS(HW_API_ENUM)
#undef HW_API_ENUM
        HW_API_COUNT
} HW_API;

/* -- per-thread state ------------------------------------------------------------------------ */

#define HW_MAX_HELD 16

typedef struct _HW_HELD
{
    PKSPIN_LOCK Lock;
    KIRQL OldIrql;
    BOOLEAN Queued; /* taken with KeAcquireInStackQueuedSpinLock */
} HW_HELD;

typedef struct _HW_THREAD
{
    uint64_t Id;         /* small number, 0 until first use */
    KIRQL Irql;
    const char *Context; /* what the thread runs now: "harness", "DriverEntry", "classifyFn", ... */
    HW_HELD Held[HW_MAX_HELD];
    uint32_t HeldCount;
    uint64_t Copied;     /* bytes RtlCopyMemory copied while this thread held a spin lock */
    uint64_t ProcessId;  /* PsGetCurrentProcessId */
    uint32_t Processor;  /* KeGetCurrentProcessorNumberEx: set by HostWdk_SetCurrentProcessor */
} HW_THREAD;

HW_THREAD *hw_thread(void);

/* Runs driver code: sets the context and IRQL, returns the previous context. */
const char *hw_enter_driver(const char *context, KIRQL irql);
/* After driver code returned: the IRQL must be `irql` and no spin lock may be held (both
 * recorded as violations, locks then released); restores `previous` at PASSIVE_LEVEL or at
 * `restore_irql`. */
void hw_leave_driver(const char *what, KIRQL irql, const char *previous, KIRQL restore_irql);

/* -- API bookkeeping ------------------------------------------------------------------------- */

/* Counts the call, checks the caller's IRQL against the API's limit (a violation, and then
 * *fail is set with STATUS_UNSUCCESSFUL: the call must do nothing) and consumes an armed
 * fault (*fail set with its status).  Returns TRUE when the call must fail. */
BOOLEAN hw_api_enter(HW_API api, NTSTATUS *fail);
const char *hw_api_name(HW_API api);

/* Appends one line to the call log ("[context] text"), unless the API is quiet. */
void hw_log(const char *format, ...) __attribute__((format(printf, 1, 2)));
void hw_log_api(HW_API api, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Records a rule violation (also logged). */
void hw_violation(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* -- strings, GUIDs -------------------------------------------------------------------------- */

#define HW_NAME_MAX 256

/* UNICODE_STRING -> ASCII ('?' for anything else); FALSE (and a violation naming `api`) when
 * the string is malformed. */
BOOLEAN hw_unicode_to_ascii(const char *api, PCUNICODE_STRING text, char *out, size_t size);
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into out (37 bytes). */
const char *hw_guid_text(const GUID *guid, char out[37]);
BOOLEAN hw_guid_equal(const GUID *a, const GUID *b);
BOOLEAN hw_guid_is_null(const GUID *guid);

/* -- spin locks ------------------------------------------------------------------------------ */

/* Whether any thread holds a spin lock inside [start, start + size); for pool frees. */
BOOLEAN hw_lock_held_in(const void *start, size_t size, PKSPIN_LOCK *which);
/* Number of spin locks held by any thread (the audit). */
uint32_t hw_locks_held_total(void);
/* Releases every spin lock the calling thread holds (after a violation, and at reset). */
void hw_release_thread_locks(void);

/* -- pool ------------------------------------------------------------------------------------ */

void hw_pool_counters(uint32_t *blocks, uint64_t *bytes);
void hw_pool_audit(const char *prefix);
void hw_pool_reset(void);

/* -- io.c ------------------------------------------------------------------------------------ */

void hw_io_counters(HOSTWDK_COUNTERS *counters);
void hw_io_audit(const char *prefix);
void hw_io_reset(void);
PDRIVER_OBJECT hw_driver_object(void);
BOOLEAN hw_is_device(const void *device);

/* -- fwp.c ----------------------------------------------------------------------------------- */

void hw_fwp_counters(HOSTWDK_COUNTERS *counters);
void hw_fwp_audit(const char *prefix);
void hw_fwp_reset(void);
/* Number of run-time callouts registered against `device` (IoDeleteDevice checks it). */
uint32_t hw_fwp_callouts_on_device(const void *device);

/* -- etw.c ----------------------------------------------------------------------------------- */

void hw_etw_counters(HOSTWDK_COUNTERS *counters);
void hw_etw_audit(const char *prefix);
void hw_etw_reset(void);

/* -- text buffers for the test hooks --------------------------------------------------------- */

typedef struct _HW_TEXT
{
    char *Data;
    size_t Length;
    size_t Capacity;
} HW_TEXT;

void hw_text_append(HW_TEXT *text, const char *format, ...) __attribute__((format(printf, 2, 3)));
void hw_text_clear(HW_TEXT *text);
void hw_text_free(HW_TEXT *text);
