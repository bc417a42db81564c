/*
 * fwpm_guids.c - stands in for fwpkclnt.lib and uuid.lib, which define the FWPM_LAYER_* and
 * FWPM_CONDITION_* GUIDs a driver links against. A generated driver only declares them
 * (it includes <fwpmk.h> once, without INITGUID), exactly as with the WDK; this file is
 * their one definition in the host build.
 */

/* Like those libraries, this file defines every GUID the newest headers declare, whatever
 * NTDDI_VERSION the driver (whose defines the runtime is compiled with) targets: a driver
 * for an older target declares a subset of them.  See hostwdk_internal.h. */
#undef NTDDI_VERSION
#define NTDDI_VERSION 0x0A000010 /* NTDDI_WIN11_GE */

#include <initguid.h>
#include <ntddk.h>
#include <ndis.h>
#include <fwpsk.h>
#include <fwpmk.h>
