/*
 * fwpsk.h - MinGW-w64 cross-build shim (wfpgen.crossbuild).  NOT the WDK's fwpsk.h.
 *
 * The subset of the callout (run-time) API that wfpgen's generated drivers use.  MinGW-w64
 * has no fwpsk.h at all.  Names, types and member order follow Microsoft's headers and
 * documentation; the numbers (FWPS_BUILTIN_LAYERS, FWPS_FIELDS_*, FWPS_METADATA_FIELD_*)
 * come from wfpgen's catalog through the generated wfpgen_fwps_tables.h.  None of this can
 * be checked against the real header on Linux: the generated project's Windows CI compiles
 * ci/wdk_assumptions.c, which asserts each number the driver relies on against the WDK.
 *
 *   - FWPS_INCOMING_VALUE0/VALUES0, FWPS_CLASSIFY_OUT0 and FWPS_CALLOUT1..3 are complete,
 *     with their x64 sizes asserted below;
 *   - FWPS_INCOMING_METADATA_VALUES0 is complete as far as offsets go, but UNVERIFIED: it
 *     is typed from the documented member list; members no generated code reads are
 *     placeholders of the right size and alignment (wfpgenUnread*), so reading them fails
 *     to compile.  Its offsets are asserted in wfpgen_fwps_tables.h and on Windows;
 *   - FWPS_FILTER1..3 are incomplete: generated code only passes them through.
 */

#ifndef WFPGEN_CROSSBUILD_FWPSK_H
#define WFPGEN_CROSSBUILD_FWPSK_H

#ifndef WFPGEN_CROSSBUILD_NDIS_INCLUDED
#error "include <ndis.h> before <fwpsk.h>: the WDK's fwpsk.h uses NDIS types (NET_BUFFER_LIST)"
#endif

#include <ntddk.h>
#include "wfpgen_fwpmtypes.h"

/* ---- classify output ------------------------------------------------------------------- */

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

/* ---- incoming values ------------------------------------------------------------------- */

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

/* ---- incoming metadata (UNVERIFIED layout, see above) ------------------------------------ */

/* Size and alignment of members generated code never reads; contents deliberately absent. */
typedef struct WFPGEN_UNREAD_8x2_ { UINT64 wfpgenUnread[2]; } WFPGEN_UNREAD_8x2; /* FWPS_DISCARD_METADATA0 */
typedef struct WFPGEN_UNREAD_4x3_ { UINT32 wfpgenUnread[3]; } WFPGEN_UNREAD_4x3; /* FWPS_INBOUND_FRAGMENT_METADATA0 */
typedef struct WFPGEN_UNREAD_4x1_ { UINT32 wfpgenUnread[1]; } WFPGEN_UNREAD_4x1; /* SCOPE_ID */
typedef struct WFPGEN_UNREAD_4x8_ { UINT32 wfpgenUnread[8]; } WFPGEN_UNREAD_4x8; /* IP_ADDRESS_PREFIX */

typedef struct FWPS_INCOMING_METADATA_VALUES0_
{
    UINT32 currentMetadataValues;
    UINT32 flags;
    UINT64 reserved;
    WFPGEN_UNREAD_8x2 wfpgenUnreadDiscardMetadata;
    UINT64 flowHandle;
    UINT32 ipHeaderSize;
    UINT32 transportHeaderSize;
    FWP_BYTE_BLOB *processPath;
    UINT64 token;
    UINT64 processId;
    UINT32 sourceInterfaceIndex;
    UINT32 destinationInterfaceIndex;
    ULONG compartmentId;
    WFPGEN_UNREAD_4x3 wfpgenUnreadFragmentMetadata;
    ULONG pathMtu;
    HANDLE completionHandle;
    UINT64 transportEndpointHandle;
    WFPGEN_UNREAD_4x1 wfpgenUnreadRemoteScopeId;
    void *wfpgenUnreadControlData;
    ULONG wfpgenUnreadControlDataLength;
    FWP_DIRECTION packetDirection;
    PVOID headerIncludeHeader;
    ULONG headerIncludeHeaderLength;
    WFPGEN_UNREAD_4x8 wfpgenUnreadDestinationPrefix;
    UINT16 frameLength;
    UINT64 parentEndpointHandle;
    UINT32 icmpIdAndSequence;
    DWORD localRedirectTargetPID;
    void *wfpgenUnreadOriginalDestination;
#if NTDDI_VERSION >= 0x06020000 /* NTDDI_WIN8: the members below */
    HANDLE redirectRecords;
    UINT32 wfpgenUnreadCurrentL2MetadataValues;
    UINT32 wfpgenUnreadL2Flags;
    UINT32 wfpgenUnreadEthernetMacHeaderSize;
    UINT32 wfpgenUnreadWiFiOperationMode;
    UINT32 wfpgenUnreadVSwitchSourcePortId;
    UINT16 wfpgenUnreadVSwitchSourceNicIndex;
    UINT32 wfpgenUnreadVSwitchDestinationPortId;
    HANDLE wfpgenUnreadVSwitchPacketContext;
    PVOID subProcessTag;
    UINT64 wfpgenUnreadReserved1;
#endif
} FWPS_INCOMING_METADATA_VALUES0;

#define FWPS_IS_METADATA_FIELD_PRESENT(metadataValues, metadataField)                                    \
    (((metadataValues)->currentMetadataValues & (metadataField)) == (metadataField))

/* ---- filters: passed through only ------------------------------------------------------ */

typedef struct FWPS_FILTER0_ FWPS_FILTER0;
typedef struct FWPS_FILTER1_ FWPS_FILTER1;
#if NTDDI_VERSION >= 0x06020000 /* NTDDI_WIN8 */
typedef struct FWPS_FILTER2_ FWPS_FILTER2;
#endif
#if NTDDI_VERSION >= 0x0A000004 /* NTDDI_WIN10_RS3 */
typedef struct FWPS_FILTER3_ FWPS_FILTER3;
#endif

/* ---- callouts -------------------------------------------------------------------------- */

typedef enum FWPS_CALLOUT_NOTIFY_TYPE_
{
    FWPS_CALLOUT_NOTIFY_ADD_FILTER = 0,
    FWPS_CALLOUT_NOTIFY_DELETE_FILTER = (FWPS_CALLOUT_NOTIFY_ADD_FILTER + 1),
    FWPS_CALLOUT_NOTIFY_ADD_FILTER_POST_COMMIT = (FWPS_CALLOUT_NOTIFY_DELETE_FILTER + 1),
    FWPS_CALLOUT_NOTIFY_TYPE_MAX = (FWPS_CALLOUT_NOTIFY_ADD_FILTER_POST_COMMIT + 1)
} FWPS_CALLOUT_NOTIFY_TYPE;

typedef void(NTAPI *FWPS_CALLOUT_CLASSIFY_FN1)(const FWPS_INCOMING_VALUES0 *inFixedValues,
                                               const FWPS_INCOMING_METADATA_VALUES0 *inMetaValues,
                                               void *layerData,
                                               const void *classifyContext,
                                               const FWPS_FILTER1 *filter,
                                               UINT64 flowContext,
                                               FWPS_CLASSIFY_OUT0 *classifyOut);

#if NTDDI_VERSION >= 0x06020000 /* NTDDI_WIN8 */
typedef void(NTAPI *FWPS_CALLOUT_CLASSIFY_FN2)(const FWPS_INCOMING_VALUES0 *inFixedValues,
                                               const FWPS_INCOMING_METADATA_VALUES0 *inMetaValues,
                                               void *layerData,
                                               const void *classifyContext,
                                               const FWPS_FILTER2 *filter,
                                               UINT64 flowContext,
                                               FWPS_CLASSIFY_OUT0 *classifyOut);
#endif

#if NTDDI_VERSION >= 0x0A000004 /* NTDDI_WIN10_RS3 */
typedef void(NTAPI *FWPS_CALLOUT_CLASSIFY_FN3)(const FWPS_INCOMING_VALUES0 *inFixedValues,
                                               const FWPS_INCOMING_METADATA_VALUES0 *inMetaValues,
                                               void *layerData,
                                               const void *classifyContext,
                                               const FWPS_FILTER3 *filter,
                                               UINT64 flowContext,
                                               FWPS_CLASSIFY_OUT0 *classifyOut);
#endif

typedef NTSTATUS(NTAPI *FWPS_CALLOUT_NOTIFY_FN1)(FWPS_CALLOUT_NOTIFY_TYPE notifyType,
                                                 const GUID *filterKey,
                                                 FWPS_FILTER1 *filter);

#if NTDDI_VERSION >= 0x06020000 /* NTDDI_WIN8 */
typedef NTSTATUS(NTAPI *FWPS_CALLOUT_NOTIFY_FN2)(FWPS_CALLOUT_NOTIFY_TYPE notifyType,
                                                 const GUID *filterKey,
                                                 FWPS_FILTER2 *filter);
#endif

#if NTDDI_VERSION >= 0x0A000004 /* NTDDI_WIN10_RS3 */
typedef NTSTATUS(NTAPI *FWPS_CALLOUT_NOTIFY_FN3)(FWPS_CALLOUT_NOTIFY_TYPE notifyType,
                                                 const GUID *filterKey,
                                                 FWPS_FILTER3 *filter);
#endif

typedef void(NTAPI *FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0)(UINT16 layerId, UINT32 calloutId, UINT64 flowContext);

typedef struct FWPS_CALLOUT1_
{
    GUID calloutKey;
    UINT32 flags;
    FWPS_CALLOUT_CLASSIFY_FN1 classifyFn;
    FWPS_CALLOUT_NOTIFY_FN1 notifyFn;
    FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0 flowDeleteFn;
} FWPS_CALLOUT1;

#if NTDDI_VERSION >= 0x06020000 /* NTDDI_WIN8 */
typedef struct FWPS_CALLOUT2_
{
    GUID calloutKey;
    UINT32 flags;
    FWPS_CALLOUT_CLASSIFY_FN2 classifyFn;
    FWPS_CALLOUT_NOTIFY_FN2 notifyFn;
    FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0 flowDeleteFn;
} FWPS_CALLOUT2;
#endif

#if NTDDI_VERSION >= 0x0A000004 /* NTDDI_WIN10_RS3 */
typedef struct FWPS_CALLOUT3_
{
    GUID calloutKey;
    UINT32 flags;
    FWPS_CALLOUT_CLASSIFY_FN3 classifyFn;
    FWPS_CALLOUT_NOTIFY_FN3 notifyFn;
    FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0 flowDeleteFn;
} FWPS_CALLOUT3;
#endif

/* Exported by fwpkclnt.sys; the imports come from fwpkclnt.def. */
NTSTATUS NTAPI FwpsCalloutRegister1(void *deviceObject, const FWPS_CALLOUT1 *callout, UINT32 *calloutId);
#if NTDDI_VERSION >= 0x06020000 /* NTDDI_WIN8 */
NTSTATUS NTAPI FwpsCalloutRegister2(void *deviceObject, const FWPS_CALLOUT2 *callout, UINT32 *calloutId);
#endif
#if NTDDI_VERSION >= 0x0A000004 /* NTDDI_WIN10_RS3 */
NTSTATUS NTAPI FwpsCalloutRegister3(void *deviceObject, const FWPS_CALLOUT3 *callout, UINT32 *calloutId);
#endif
NTSTATUS NTAPI FwpsCalloutUnregisterById0(const UINT32 calloutId);
NTSTATUS NTAPI FwpsCalloutUnregisterByKey0(const GUID *calloutKey);
NTSTATUS NTAPI FwpsFlowAssociateContext0(UINT64 flowId, UINT16 layerId, UINT32 calloutId, UINT64 flowContext);
NTSTATUS NTAPI FwpsFlowRemoveContext0(UINT64 flowId, UINT16 layerId, UINT32 calloutId);

/* ---- x64 sizes ------------------------------------------------------------------------- */

_Static_assert(sizeof(FWPS_INCOMING_VALUE0) == 16, "FWPS_INCOMING_VALUE0 is 16 bytes on x64");
_Static_assert(sizeof(FWPS_INCOMING_VALUES0) == 16, "FWPS_INCOMING_VALUES0 is 16 bytes on x64");
_Static_assert(sizeof(FWPS_CLASSIFY_OUT0) == 40, "FWPS_CLASSIFY_OUT0 is 40 bytes on x64");
_Static_assert(sizeof(FWPS_CALLOUT1) == 48, "FWPS_CALLOUT1 is 48 bytes on x64");
#if NTDDI_VERSION >= 0x0A000004
_Static_assert(sizeof(FWPS_CALLOUT3) == 48, "FWPS_CALLOUT3 is 48 bytes on x64");
#endif

/* FWPS_BUILTIN_LAYERS, FWPS_FIELDS_*, FWPS_METADATA_FIELD_* and the metadata offsets. */
#include "wfpgen_fwps_tables.h"

#endif /* WFPGEN_CROSSBUILD_FWPSK_H */
