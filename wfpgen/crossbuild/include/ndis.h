/*
 * ndis.h - MinGW-w64 cross-build shim (wfpgen.crossbuild).  NOT the WDK's ndis.h.
 *
 * The WDK's fwpsk.h needs ndis.h first (it uses NET_BUFFER_LIST and friends), so generated
 * drivers include <ndis.h> before <fwpsk.h>.  MinGW-w64's own ddk/ndis.h cannot follow
 * ntddk.h/ntifs.h (it re-declares kernel types), and the fwpsk.h shim uses nothing from
 * NDIS beyond opaque names.  This header therefore only declares those names; any NDIS
 * routine or structure member a driver uses fails to compile here instead of silently
 * meaning something else.
 */

#ifndef WFPGEN_CROSSBUILD_NDIS_H
#define WFPGEN_CROSSBUILD_NDIS_H

#include <ntddk.h>

#define WFPGEN_CROSSBUILD_NDIS_INCLUDED 1

typedef struct _NET_BUFFER NET_BUFFER, *PNET_BUFFER;
typedef struct _NET_BUFFER_LIST NET_BUFFER_LIST, *PNET_BUFFER_LIST;
typedef PVOID NDIS_HANDLE;

#endif /* WFPGEN_CROSSBUILD_NDIS_H */
