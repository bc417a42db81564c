/* ndis.h - host stand-in.  The generated code uses nothing from NDIS directly, but the
 * WDK's fwpsk.h needs ndis.h first (NET_BUFFER_LIST); fwpsk.h checks this marker. */
#ifndef HOSTWDK_NDIS_H
#define HOSTWDK_NDIS_H
#include "hostwdk.h"
#endif
