/*
 * Test hooks of the host simulation: what a harness (C or Python through ctypes) uses to
 * load a generated driver, send it traffic and I/O, inject faults and read the verdict.
 *
 * Every function is exported from the shared library built from the runtime and the driver.
 * All strings are UTF-8; device paths are given in user-mode form ("\\\\.\\Name").
 */

#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* -- lifecycle ------------------------------------------------------------------------------ */

/* Forget every object, counter, violation, fault and log entry (between scenarios). The
   driver's own globals are not touched: unload a loaded driver before resetting. */
void HostWdk_Reset(void);

/* Call DriverEntry at PASSIVE_LEVEL with a fresh DRIVER_OBJECT; returns its NTSTATUS. */
int32_t HostWdk_LoadDriver(void);

/* Call DriverUnload at PASSIVE_LEVEL (if DriverEntry succeeded), then audit what is left:
   every object still registered or allocated is recorded as a violation. Returns the number
   of violations recorded so far. */
uint32_t HostWdk_UnloadDriver(void);

/* -- traffic ------------------------------------------------------------------------------- */

/* One incoming value. type is an FWP_DATA_TYPE; scalars in u64; byte arrays and blobs point
   to data/size (the runtime builds FWP_BYTE_ARRAY16 / FWP_BYTE_BLOB / SID around them);
   type FWP_EMPTY (0) leaves the slot empty. */
typedef struct _HOSTWDK_VALUE
{
    uint32_t type;
    uint32_t size;
    uint64_t u64;
    const uint8_t *data;
} HOSTWDK_VALUE;

/* The most NET_BUFFERs one classify's NET_BUFFER_LIST may hold (HOSTWDK_METADATA.net_buffer_count). */
#define HOSTWDK_MAX_NET_BUFFERS 64u

/* Metadata for one classify: present is a FWPS_METADATA_FIELD_* mask.

   The packet(s), as classifyFn's layerData: with net_buffer_count > 0 (at most
   HOSTWDK_MAX_NET_BUFFERS, else the classify fails with STATUS_INVALID_PARAMETER;
   net_buffer_lengths must then point to that many lengths) the runtime builds, per classify
   and on the classifying thread's stack, one NET_BUFFER_LIST (Next NULL) whose FirstNetBuffer
   chain holds net_buffer_count NET_BUFFERs, the i-th with DataLength net_buffer_lengths[i]
   and DataOffset 0 (no MDLs: the NET_BUFFERs carry lengths, not bytes), and passes it as
   layerData to every classifyFn of the classify.  With 0, layerData is NULL.  The stream
   layers (FWPS_LAYER_STREAM_V4/V6 and their _DISCARD layers) take no NET_BUFFER_LIST (their
   layerData is an FWPS_STREAM_CALLOUT_IO_PACKET0): a count there is STATUS_INVALID_PARAMETER.
   A classifyFn must leave the list as it found it (retreat/advance in pairs): a change is a
   violation.

   The lengths are what Windows' NET_BUFFERs hold from the layer's data offset position
   (Microsoft's "Data offset positions" table):
     FWPS_LAYER_INBOUND_TRANSPORT_V4/V6: each NET_BUFFER starts at the transport payload, so
       a length is the packet's payload bytes (TCP/UDP header excluded); the transport
       header precedes the offset (give its size as transport_header_size, and the IP
       header's as ip_header_size, if the driver retreats over them);
     FWPS_LAYER_OUTBOUND_TRANSPORT_V4/V6: each NET_BUFFER starts at the transport header, so
       a length is transport header + payload bytes; give the header's size as
       transport_header_size (FWPS_METADATA_FIELD_TRANSPORT_HEADER_SIZE), which a driver
       subtracts to count payload bytes;
     other layers: whatever that table says for the layer (the runtime does not check). */
typedef struct _HOSTWDK_METADATA
{
    uint32_t present;
    uint32_t reserved;
    uint64_t process_id;
    const uint8_t *process_path; /* UTF-16LE bytes incl. the terminating NUL */
    uint32_t process_path_size;
    uint32_t compartment_id;
    uint64_t flow_handle;
    uint64_t transport_endpoint_handle;
    uint32_t ip_header_size;
    uint32_t transport_header_size;
    uint32_t packet_direction;
    uint32_t icmp_id_and_sequence;
    uint64_t parent_endpoint_handle;
    uint64_t token;
    uint32_t local_redirect_target_pid;
    uint32_t path_mtu;
    const uint32_t *net_buffer_lengths; /* net_buffer_count lengths: the NET_BUFFER_LIST of layerData */
    uint32_t net_buffer_count;          /* 0: layerData is NULL */
    uint32_t reserved2;                 /* 0 */
} HOSTWDK_METADATA;

/* The outcome of one classify at one layer. */
typedef struct _HOSTWDK_VERDICT
{
    uint32_t callouts_invoked; /* filters whose conditions matched and whose callout ran */
    uint32_t filters_matched;
    uint32_t action_type;      /* FWP_ACTION_* after arbitration: BLOCK or PERMIT when a filter decided;
                                  FWP_ACTION_CONTINUE when filters matched but none decided;
                                  FWP_ACTION_PERMIT when no filter matched */
    uint32_t rights;           /* FWPS_CLASSIFY_OUT0.rights after the last callout */
} HOSTWDK_VERDICT;

/* Classify at run-time layer layer_id (an FWPS_LAYER_* value) on the calling thread, at
   DISPATCH_LEVEL, running the callout of every filter at that layer whose conditions match
   the values. Returns STATUS_SUCCESS, or an error when the layer id is unknown. */
int32_t HostWdk_Classify(uint16_t layer_id, const HOSTWDK_VALUE *values, uint32_t value_count,
                         const HOSTWDK_METADATA *metadata, HOSTWDK_VERDICT *verdict);

/* HostWdk_Classify `repeat` times in a row (stops at the first error); *last gets the last
   verdict. One call from each of several threads gives a stress run that never returns to the
   caller's language runtime in between (so nothing but the driver orders the threads). */
int32_t HostWdk_ClassifyRepeat(uint16_t layer_id, const HOSTWDK_VALUE *values, uint32_t value_count,
                               const HOSTWDK_METADATA *metadata, uint32_t repeat, HOSTWDK_VERDICT *last);

/* Processors: HostWdk_SetProcessorCount sets what KeQueryActiveProcessorCountEx reports (1 after
   a reset; set it before loading the driver). HostWdk_SetCurrentProcessor sets the calling
   thread's KeGetCurrentProcessorNumberEx (0 until set; an index at or above the count plays a
   processor added after the driver loaded). Processors are numbered 64 to a group. */
void HostWdk_SetProcessorCount(uint32_t count);
void HostWdk_SetCurrentProcessor(uint32_t index);

/* Flows: a classify whose metadata carries FWPS_METADATA_FIELD_FLOW_HANDLE (any non-zero flow_handle the
   harness picks) belongs to that flow; contexts associated with it (FwpsFlowAssociateContext0) reach the
   callout's classifyFn as flowContext.  HostWdk_FlowEnd ends the flow: each context goes to its callout's
   flowDeleteFn (at DISPATCH_LEVEL, on the calling thread, or on the thread of the last classifyFn still
   using it).  Returns the number of contexts the flow had. */
uint32_t HostWdk_FlowEnd(uint64_t flow);

/* Time: HostWdk_SystemTime is what KeQuerySystemTime(Precise) returns now (100-ns units since 1601);
   HostWdk_AdvanceClock moves the system time forward by `units` from now on (0 after a reset), so a
   harness can let an interval pass without waiting for it. */
int64_t HostWdk_SystemTime(void);
void HostWdk_AdvanceClock(int64_t units);

/* The FWPS run-time layer id of a layer name: "FWPS_LAYER_ALE_AUTH_CONNECT_V4" or the
   catalog's "ale_auth_connect_v4"; -1 if unknown. */
int32_t HostWdk_LayerId(const char *fwps_layer_name);

/* -- devices and I/O ------------------------------------------------------------------------ */

/* Open a device by its user-mode path (IRP_MJ_CREATE); returns a handle > 0, or a negative
   NTSTATUS. */
int64_t HostWdk_Open(const char *path);

/* IRP_MJ_CLEANUP then IRP_MJ_CLOSE for the handle. */
int32_t HostWdk_Close(int64_t handle);

/* Send IRP_MJ_DEVICE_CONTROL with METHOD_BUFFERED semantics (one system buffer of
   max(in, out) bytes). Returns the IRP's final status, or STATUS_PENDING with *request set
   to an id for HostWdk_Wait / HostWdk_Cancel. On completion the output is copied back and
   *information holds IoStatus.Information. */
int32_t HostWdk_DeviceIoControl(int64_t handle, uint32_t code, const void *input, uint32_t input_length,
                                void *output, uint32_t output_length, uint64_t *information, int64_t *request);

/* Wait up to timeout_ms for a pending request; returns its status, or STATUS_PENDING on timeout.
   On completion copies the output into the caller's buffer given to DeviceIoControl. */
int32_t HostWdk_Wait(int64_t request, uint32_t timeout_ms, uint64_t *information);

/* Cancel a pending request (IoCancelIrp semantics: sets Irp->Cancel and calls its cancel
   routine). Returns STATUS_SUCCESS when the cancel routine ran (the cancel-safe queue removed the
   IRP and called CsqCompleteCanceledIrp), STATUS_UNSUCCESSFUL when the request had no cancel
   routine (already completed, or not in a cancel-safe queue: a later IoCsqInsertIrp completes it
   as cancelled), STATUS_INVALID_PARAMETER for an unknown request. HostWdk_Wait reaps it. */
int32_t HostWdk_Cancel(int64_t request);

/* -- fault injection, audit ---------------------------------------------------------------- */

/* Make the nth call (1-based, counted from now) of the named API fail with status (or return
   NULL for allocators). Several faults may be armed at once. */
void HostWdk_FailCall(const char *api, uint32_t nth, int32_t status);

/* Whether HostWdk_FailCall can make the named API fail: 1 yes (it returns an NTSTATUS or a
   pointer), 0 no (a VOID routine, a spin lock, the clock...), -1 not an API of the runtime. */
int32_t HostWdk_CanFail(const char *api);

/* From now until the next reset, classify reports at most limit values (valueCount), as a
   shorter FWPS_INCOMING_VALUES0 would; 0 restores the layer's full count. */
void HostWdk_LimitValueCount(uint32_t limit);

/* Calls of each API since the last reset, as "Name count" lines. */
const char *HostWdk_CallCounts(void);

/* The call log: one line per kernel API call with decoded arguments and its result (hot-path
   routines - spin locks, clocks, KeGetCurrentIrql, IoCsqInsertIrp/IoCsqRemoveNextIrp - are only
   counted). Read it while no other thread is inside the runtime. */
const char *HostWdk_CallLog(void);

/* Rule violations found so far, one per line ("" when none). */
const char *HostWdk_Violations(void);
uint32_t HostWdk_ViolationCount(void);

/* Spin-lock hold times since the last reset or HostWdk_ResetLockHolds: the longest hold of any
   spin lock, measured in the holder's CPU time (time the thread was preempted while holding
   does not count: at DISPATCH_LEVEL on Windows it cannot be), with the holder's context
   ("classifyFn", "IRP_MJ_DEVICE_CONTROL", ...) and the number of holds measured; and the most
   bytes RtlCopyMemory copied during any one hold (the bench build measures none of it). */
typedef struct _HOSTWDK_LOCK_HOLDS
{
    uint64_t longest_ns;
    uint64_t holds;
    uint64_t most_bytes;
    char context[48];
} HOSTWDK_LOCK_HOLDS;

void HostWdk_GetLockHolds(HOSTWDK_LOCK_HOLDS *holds);
void HostWdk_ResetLockHolds(void);

typedef struct _HOSTWDK_COUNTERS
{
    uint32_t engines;          /* open engine handles */
    uint32_t transactions;     /* open transactions */
    uint32_t providers;
    uint32_t sublayers;
    uint32_t callouts;         /* management callouts (FwpmCalloutAdd0) */
    uint32_t runtime_callouts; /* FwpsCalloutRegisterN */
    uint32_t filters;
    uint32_t devices;
    uint32_t symbolic_links;
    uint32_t pool_blocks;
    uint64_t pool_bytes;
    uint32_t pending_irps;     /* requests handed to the driver and not completed */
    uint32_t open_handles;
    uint32_t flow_contexts;    /* FwpsFlowAssociateContext0 contexts not yet handed to flowDeleteFn */
    uint32_t etw_providers;    /* TraceLogging providers registered */
} HOSTWDK_COUNTERS;

void HostWdk_GetCounters(HOSTWDK_COUNTERS *counters);

/* TraceLogging (TraceLoggingProvider.h): every event written since the last reset or
   HostWdk_EtwClear, one line each: provider, event name, level, keyword (hex), then per field
   "name=in:out:bytes" (the TlgIn/TlgOut numbers, the bytes in hex as the driver gave them), all
   separated by tabs.  HostWdk_EtwEnable sets the keywords the simulated session enables (every
   one after a reset; 0: no session, TraceLoggingProviderEnabled says FALSE). */
const char *HostWdk_EtwEvents(void);
void HostWdk_EtwClear(void);
void HostWdk_EtwEnable(uint64_t keywords);

/* Registered filters, one line each: "layer=<FWPM GUID> action=0x.... callout=<GUID> conditions=N
   [field=<GUID> match=N type=N value=...]..." in the order they were added. */
const char *HostWdk_Filters(void);

#ifdef __cplusplus
}
#endif
