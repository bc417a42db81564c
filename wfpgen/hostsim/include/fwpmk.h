/* fwpmk.h - host stand-in: the kernel management API is in hostwdk.h; the FWPM_LAYER_* and
 * FWPM_CONDITION_* GUIDs come from the generated wfp_layers.h.  As in the WDK, they are
 * declared by the first inclusion of this header, or defined if <initguid.h> came first. */
#ifndef HOSTWDK_FWPMK_H
#define HOSTWDK_FWPMK_H
#include "hostwdk.h"
#define HOSTWDK_WANT_FWPM_GUIDS
#include "wfp_layers.h"
#endif
