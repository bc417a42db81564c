/* fwpsk.h - host stand-in: the callout (run-time) API is in hostwdk.h; the
 * FWPS_BUILTIN_LAYERS and FWPS_FIELDS_* enums come from the generated wfp_layers.h. */
#ifndef HOSTWDK_FWPSK_H
#define HOSTWDK_FWPSK_H
#ifndef HOSTWDK_NDIS_H
#error "include <ndis.h> before <fwpsk.h>: the WDK's fwpsk.h uses NDIS types (NET_BUFFER_LIST)"
#endif
#include "hostwdk.h"
#define HOSTWDK_WANT_FWPS_LAYERS
#include "wfp_layers.h"
#endif
