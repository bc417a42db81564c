/* ndis.h - host stand-in.  The WDK's fwpsk.h needs ndis.h first (NET_BUFFER_LIST); fwpsk.h
 * checks this marker.
 *
 * The only NDIS surface declared is what a callout reads from the NET_BUFFER_LIST it gets as
 * classifyFn's layerData at the packet layers: the chain of NET_BUFFERs (one per packet) and
 * each one's length and offset, through the WDK's accessor macros (nblaccessors.h).  Both
 * structures are documented subsets, like IRP in hostwdk.h: the leading members in the WDK's
 * order with the WDK's types (scripts/compare_shims.py checks them), nothing after them, so
 * any other member (NetBufferListInfo, the reserved areas, Link...) fails to compile here
 * instead of reading a guessed layout.  Drivers never allocate these: NDIS (the host runtime,
 * from the harness's lengths; see hostwdk_test.h) does.  The NET_BUFFERs the runtime builds
 * describe no data (MdlChain and CurrentMdl are NULL): only their lengths are real. */
#ifndef HOSTWDK_NDIS_H
#define HOSTWDK_NDIS_H
#include "hostwdk.h"

typedef struct _NET_BUFFER NET_BUFFER, *PNET_BUFFER;
typedef struct _NET_BUFFER_LIST NET_BUFFER_LIST, *PNET_BUFFER_LIST;

/* In the WDK, the members below share an anonymous union with an SLIST_HEADER (Link) and
 * are followed by the checksum bias, pool handle, reserved areas, physical address and
 * shared-memory / scatter-gather pointer, all left out here. */
struct _NET_BUFFER
{
    NET_BUFFER *Next;       /* next packet of the same NET_BUFFER_LIST, NULL after the last */
    MDL *CurrentMdl;        /* the MDL holding the byte at DataOffset */
    ULONG CurrentMdlOffset; /* offset of that byte in CurrentMdl */
    union
    {
        ULONG DataLength;    /* bytes of packet data from DataOffset on */
        SIZE_T stDataLength; /* the same, pointer-sized */
    };
    MDL *MdlChain;          /* first MDL of the buffer */
    ULONG DataOffset;       /* where the data starts in MdlChain (the "data offset position") */
};

/* In the WDK, these two members share an anonymous union with an SLIST_HEADER (Link) and are
 * followed by the context, parent, reserved areas, flags, status and NetBufferListInfo[]. */
struct _NET_BUFFER_LIST
{
    NET_BUFFER_LIST *Next;      /* next NET_BUFFER_LIST of an indication, NULL after the last */
    NET_BUFFER *FirstNetBuffer; /* its first NET_BUFFER */
};

/* The accessor macros C drivers use (nblaccessors.h offers them under NDIS_INCLUDE_LEGACY_NAMES,
 * which the WDK's ndis.h defines): plain member reads. */
#define NET_BUFFER_LIST_FIRST_NB(nbl) ((nbl)->FirstNetBuffer)
#define NET_BUFFER_LIST_NEXT_NBL(nbl) ((nbl)->Next)
#define NET_BUFFER_NEXT_NB(nb) ((nb)->Next)
#define NET_BUFFER_DATA_LENGTH(nb) ((nb)->DataLength)
#define NET_BUFFER_DATA_OFFSET(nb) ((nb)->DataOffset)
#define NET_BUFFER_FIRST_MDL(nb) ((nb)->MdlChain)
#define NET_BUFFER_CURRENT_MDL(nb) ((nb)->CurrentMdl)
#define NET_BUFFER_CURRENT_MDL_OFFSET(nb) ((nb)->CurrentMdlOffset)

#endif
