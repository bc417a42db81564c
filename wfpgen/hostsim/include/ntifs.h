/* ntifs.h - host stand-in: forwards to hostwdk.h (see there); ntifs.h includes ntddk.h. */
#include "hostwdk.h"
