/*
 * wfpgen_fwpmtypes.h - MinGW-w64 cross-build shim (wfpgen.crossbuild).  NOT a WDK header.
 *
 * Brings in MinGW-w64's own fwptypes.h / fwpmtypes.h (FWP_VALUE0, FWPM_FILTER0,
 * FWPM_SESSION0 ...: structure layouts MinGW maintains, not typed here) in kernel mode.
 * Those headers are written for user mode: they pull in rpc.h, rpcndr.h, windows.h, ole2.h
 * and wtypes.h, which conflict with ntddk.h.  Their include guards are therefore defined
 * first, so they are skipped, and the three types the WFP headers then miss (BYTE, DWORD,
 * FILETIME) are supplied here with their Windows definitions.
 *
 * Included by the fwpsk.h and fwpmk.h shims; needs ntddk.h (and ntifs.h, for SID) first.
 */

#ifndef WFPGEN_CROSSBUILD_FWPMTYPES_H
#define WFPGEN_CROSSBUILD_FWPMTYPES_H

#include <ntddk.h>

#ifndef COM_NO_WINDOWS_H
#define COM_NO_WINDOWS_H
#endif
#ifndef RPC_NO_WINDOWS_H
#define RPC_NO_WINDOWS_H
#endif
#ifndef __RPC_H__
#define __RPC_H__
#endif
#ifndef __RPCNDR_H__
#define __RPCNDR_H__
#endif
#ifndef __RPCNDR_H_VERSION__
#define __RPCNDR_H_VERSION__ 500 /* the version the WDK's rpcndr.h declares */
#endif
#ifndef __wtypes_h__
#define __wtypes_h__
#endif

#ifndef WFPGEN_HAVE_WIN32_BASE_TYPES
#define WFPGEN_HAVE_WIN32_BASE_TYPES
typedef unsigned char BYTE;
typedef unsigned long DWORD; /* 32 bits: MinGW targets LLP64 */
typedef struct _FILETIME
{
    DWORD dwLowDateTime;
    DWORD dwHighDateTime;
} FILETIME, *PFILETIME, *LPFILETIME;
#endif

#include <fwpmtypes.h>

/* Layouts the driver hands to the filter engine: MinGW's must be the x64 ones. */
_Static_assert(sizeof(DWORD) == 4, "DWORD is 32 bits on Windows");
_Static_assert(sizeof(FWP_VALUE0) == 16, "FWP_VALUE0 is 16 bytes on x64");
_Static_assert(sizeof(FWPM_FILTER_CONDITION0) == 40, "FWPM_FILTER_CONDITION0 is 40 bytes on x64");
_Static_assert(sizeof(FWPM_FILTER0) == 200, "FWPM_FILTER0 is 200 bytes on x64");
_Static_assert(sizeof(FWPM_CALLOUT0) == 88, "FWPM_CALLOUT0 is 88 bytes on x64");

#endif /* WFPGEN_CROSSBUILD_FWPMTYPES_H */
