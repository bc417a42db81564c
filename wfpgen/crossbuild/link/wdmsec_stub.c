/*
 * wdmsec_stub.c - LINK-CHECK-ONLY stand-in for the WDK's static library wdmsec.lib
 * (wfpgen.crossbuild).  NEVER SHIP A DRIVER LINKED WITH THIS FILE.
 *
 * wdmsec.lib is a static library of the WDK (an SDDL parser, WdmlibIoCreateDeviceSecure
 * and the SDDL_DEVOBJ_* strings); MinGW-w64 has no equivalent.  So that a MinGW-w64 build
 * of a generated driver links, this file provides the two names generated drivers use:
 *
 *   - WdmlibIoCreateDeviceSecure (what wdmsec.h turns IoCreateDeviceSecure into) calls
 *     IoCreateDevice and IGNORES the SDDL string and the device class GUID: the device
 *     object gets the default security descriptor, not the one the driver asked for;
 *   - SDDL_DEVOBJ_SYS_ALL_ADM_ALL holds the documented SDDL text, for completeness only.
 *
 * A .sys built this way is a check artefact: it shows that the driver compiles, links and
 * imports only kernel modules.  Drivers for use are built with the WDK.
 */

#include <ntddk.h>
#include <wdmsec.h>

const UNICODE_STRING SDDL_DEVOBJ_SYS_ALL_ADM_ALL = RTL_CONSTANT_STRING(L"D:P(A;;GA;;;SY)(A;;GA;;;BA)");

NTSTATUS WdmlibIoCreateDeviceSecure(PDRIVER_OBJECT DriverObject,
                                    ULONG DeviceExtensionSize,
                                    PUNICODE_STRING DeviceName,
                                    DEVICE_TYPE DeviceType,
                                    ULONG DeviceCharacteristics,
                                    BOOLEAN Exclusive,
                                    PCUNICODE_STRING DefaultSDDLString,
                                    LPCGUID DeviceClassGuid,
                                    PDEVICE_OBJECT *DeviceObject)
{
    (void)DefaultSDDLString; /* ignored: see the comment at the top */
    (void)DeviceClassGuid;
    return IoCreateDevice(DriverObject, DeviceExtensionSize, DeviceName, DeviceType, DeviceCharacteristics,
                          Exclusive, DeviceObject);
}
