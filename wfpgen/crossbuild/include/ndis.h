/*
 * ndis.h - MinGW-w64 cross-build shim (wfpgen.crossbuild).  NOT the WDK's ndis.h.
 *
 * The WDK's fwpsk.h needs ndis.h first (it uses NET_BUFFER_LIST and friends), so generated
 * drivers include <ndis.h> before <fwpsk.h>.  MinGW-w64's own ddk/ndis.h cannot follow
 * ntddk.h/ntifs.h (it re-declares kernel types), and has no NET_BUFFER / NET_BUFFER_LIST
 * (NDIS 6) anyway.  This header therefore declares only what a callout reads from the
 * NET_BUFFER_LIST it gets as classifyFn's layerData: the leading members of NET_BUFFER and
 * NET_BUFFER_LIST, at the WDK's x64 offsets (scripts/compare_shims.py checks them), and the
 * accessor macros.  The structures stop there (their sizes are NOT the WDK's: a driver only
 * ever holds pointers to what NDIS allocated), so any other NDIS routine or member a driver
 * uses fails to compile here instead of silently meaning something else.
 */

#ifndef WFPGEN_CROSSBUILD_NDIS_H
#define WFPGEN_CROSSBUILD_NDIS_H

#include <ntddk.h>

#define WFPGEN_CROSSBUILD_NDIS_INCLUDED 1

typedef struct _NET_BUFFER NET_BUFFER, *PNET_BUFFER;
typedef struct _NET_BUFFER_LIST NET_BUFFER_LIST, *PNET_BUFFER_LIST;
typedef PVOID NDIS_HANDLE;

/* The WDK wraps the members of each structure in an anonymous union with an SLIST_HEADER
 * (Link); the offsets are the same (0 on). */
struct _NET_BUFFER
{
    NET_BUFFER *Next;
    MDL *CurrentMdl;
    ULONG CurrentMdlOffset;
    union
    {
        ULONG DataLength;
        SIZE_T stDataLength;
    };
    MDL *MdlChain;
    ULONG DataOffset;
};

struct _NET_BUFFER_LIST
{
    NET_BUFFER_LIST *Next;
    NET_BUFFER *FirstNetBuffer;
};

/* The accessor macros C drivers use (nblaccessors.h, NDIS_INCLUDE_LEGACY_NAMES): member reads. */
#define NET_BUFFER_LIST_FIRST_NB(nbl) ((nbl)->FirstNetBuffer)
#define NET_BUFFER_LIST_NEXT_NBL(nbl) ((nbl)->Next)
#define NET_BUFFER_NEXT_NB(nb) ((nb)->Next)
#define NET_BUFFER_DATA_LENGTH(nb) ((nb)->DataLength)
#define NET_BUFFER_DATA_OFFSET(nb) ((nb)->DataOffset)
#define NET_BUFFER_FIRST_MDL(nb) ((nb)->MdlChain)
#define NET_BUFFER_CURRENT_MDL(nb) ((nb)->CurrentMdl)
#define NET_BUFFER_CURRENT_MDL_OFFSET(nb) ((nb)->CurrentMdlOffset)

#endif /* WFPGEN_CROSSBUILD_NDIS_H */
