/* fwpmk.h - host stand-in: the kernel management API is in hostwdk.h; the FWPM_LAYER_* and
 * FWPM_CONDITION_* GUIDs come from the generated wfp_layers.h.
 *
 * As in the WDK, the GUID block stands OUTSIDE the include guard: every inclusion of this
 * header declares the GUIDs again, or defines them when INITGUID is defined by then (see
 * DEFINE_GUID in hostwdk.h).  Including fwpmk.h a second time after <initguid.h> therefore
 * defines every FWPM GUID a second time and fails to compile, exactly as with the WDK.  A
 * driver includes fwpmk.h once, without INITGUID, and links the GUIDs (fwpkclnt.lib and
 * uuid.lib; runtime/fwpm_guids.c on the host). */
#ifndef HOSTWDK_FWPMK_H
#define HOSTWDK_FWPMK_H
#include "hostwdk.h"
#endif

#define HOSTWDK_WANT_FWPM_GUIDS
#include "wfp_layers.h"
#undef HOSTWDK_WANT_FWPM_GUIDS
