/* wdmsec.h - host stand-in: IoCreateDeviceSecure and SDDL_DEVOBJ_* are in hostwdk.h. */
#include "hostwdk.h"
