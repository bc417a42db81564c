/*
 * fwpm_guids.c - stands in for fwpkclnt.lib and uuid.lib, which define the FWPM_LAYER_* and
 * FWPM_CONDITION_* GUIDs a driver links against. A generated driver only declares them
 * (it includes <fwpmk.h> once, without INITGUID), exactly as with the WDK; this file is
 * their one definition in the host build.
 */

#include <initguid.h>
#include <ntddk.h>
#include <ndis.h>
#include <fwpsk.h>
#include <fwpmk.h>
