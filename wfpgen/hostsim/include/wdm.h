/* wdm.h - host stand-in: forwards to hostwdk.h (see there). */
#include "hostwdk.h"
