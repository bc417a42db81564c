/*
 * fwpm_guids.c - LINK-CHECK ONLY: stands in for fwpkclnt.lib and uuid.lib, which define the
 * FWPM_LAYER_* and FWPM_CONDITION_* GUIDs in a WDK build. A generated driver only declares
 * them (it includes <fwpmk.h> once, without INITGUID); MinGW-w64's libuuid.a lacks them, so
 * this object gives the cross-built image their one definition, from the shims' values.
 */

#include <initguid.h>
#include <ntddk.h>
#include <ndis.h>
#include <fwpsk.h>
#include <fwpmk.h>
