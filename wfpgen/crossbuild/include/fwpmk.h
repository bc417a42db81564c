/*
 * fwpmk.h - MinGW-w64 cross-build shim (wfpgen.crossbuild).  NOT the WDK's fwpmk.h.
 *
 * The kernel-mode management API subset wfpgen's generated drivers use.  MinGW-w64 has
 * only the user-mode fwpmu.h, whose prototypes return DWORD where the kernel's return
 * NTSTATUS, so it is not used.  Types come from MinGW's fwpmtypes.h (wfpgen_fwpmtypes.h).
 *
 * The FWPM_LAYER_* and FWPM_CONDITION_* GUIDs are in the generated wfpgen_fwpm_guids.h,
 * from wfpgen's catalog.  As in the WDK, that GUID block stands OUTSIDE the include guard:
 * every inclusion declares the GUIDs again, or defines them when INITGUID is defined by
 * then, so fwpmk.h included a second time after <initguid.h> defines every GUID twice and
 * fails to compile.  A driver includes fwpmk.h once, without INITGUID, and links the GUIDs
 * (fwpkclnt.lib and uuid.lib; link/fwpm_guids.c here).  The Windows CI of a generated
 * project checks every GUID the driver uses against the WDK (ci/wdk_assumptions.c).
 */

#ifndef WFPGEN_CROSSBUILD_FWPMK_H
#define WFPGEN_CROSSBUILD_FWPMK_H

#include <ntddk.h>
#include "wfpgen_fwpmtypes.h"

#define FWPM_SESSION_FLAG_DYNAMIC 0x00000001

#ifndef RPC_C_AUTHN_WINNT
#define RPC_C_AUTHN_WINNT 10 /* rpcdce.h */
#endif

/* Only passed through (always NULL from a driver). */
typedef struct _SEC_WINNT_AUTH_IDENTITY_W SEC_WINNT_AUTH_IDENTITY_W;

/* Exported by fwpkclnt.sys; the imports come from fwpkclnt.def. */
NTSTATUS NTAPI FwpmEngineOpen0(const wchar_t *serverName,
                               UINT32 authnService,
                               SEC_WINNT_AUTH_IDENTITY_W *authIdentity,
                               const FWPM_SESSION0 *session,
                               HANDLE *engineHandle);
NTSTATUS NTAPI FwpmEngineClose0(HANDLE engineHandle);

NTSTATUS NTAPI FwpmTransactionBegin0(HANDLE engineHandle, UINT32 flags);
NTSTATUS NTAPI FwpmTransactionCommit0(HANDLE engineHandle);
NTSTATUS NTAPI FwpmTransactionAbort0(HANDLE engineHandle);

NTSTATUS NTAPI FwpmProviderAdd0(HANDLE engineHandle, const FWPM_PROVIDER0 *provider, PSECURITY_DESCRIPTOR sd);
NTSTATUS NTAPI FwpmProviderDeleteByKey0(HANDLE engineHandle, const GUID *key);

NTSTATUS NTAPI FwpmSubLayerAdd0(HANDLE engineHandle, const FWPM_SUBLAYER0 *subLayer, PSECURITY_DESCRIPTOR sd);
NTSTATUS NTAPI FwpmSubLayerDeleteByKey0(HANDLE engineHandle, const GUID *key);

NTSTATUS NTAPI FwpmCalloutAdd0(HANDLE engineHandle,
                               const FWPM_CALLOUT0 *callout,
                               PSECURITY_DESCRIPTOR sd,
                               UINT32 *id);
NTSTATUS NTAPI FwpmCalloutDeleteById0(HANDLE engineHandle, UINT32 id);
NTSTATUS NTAPI FwpmCalloutDeleteByKey0(HANDLE engineHandle, const GUID *key);

NTSTATUS NTAPI FwpmFilterAdd0(HANDLE engineHandle, const FWPM_FILTER0 *filter, PSECURITY_DESCRIPTOR sd, UINT64 *id);
NTSTATUS NTAPI FwpmFilterDeleteById0(HANDLE engineHandle, UINT64 id);
NTSTATUS NTAPI FwpmFilterDeleteByKey0(HANDLE engineHandle, const GUID *key);

#endif /* WFPGEN_CROSSBUILD_FWPMK_H */

/* FWPM_LAYER_* and FWPM_CONDITION_*, outside the guard as in the WDK: declared, or defined
 * when INITGUID is defined. */
#include "wfpgen_fwpm_guids.h"
