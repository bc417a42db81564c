/* initguid.h - host stand-in: makes every DEFINE_GUID that follows a definition
 * (DEFINE_GUID in hostwdk.h checks INITGUID at each use). */
#ifndef INITGUID
#define INITGUID
#endif
#include "hostwdk.h"
