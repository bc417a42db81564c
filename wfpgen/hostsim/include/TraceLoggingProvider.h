/* TraceLoggingProvider.h - host stand-in for kernel-mode TraceLogging.

   Exactly the macros wfpgen's etw sink uses, with the WDK's argument shapes (every field macro
   here requires its name), and the numbers of the WDK's TlgIn_t / TlgOut_t values it names.
   Each field macro becomes a HOSTWDK_TLG_ARG: where its bytes are and how many, its in- and
   out-type; TraceLoggingWrite hands the array to the runtime, which stores the event (provider,
   name, level, keyword, every field's name, types and bytes) for the harness
   (HostWdk_EtwEvents) and checks the rules: register and unregister at PASSIVE_LEVEL, no write
   before TraceLoggingRegister or after TraceLoggingUnregister, no provider registered after
   unload.  Byte order is the caller's, as on Windows: the runtime stores the bytes it is given. */
#pragma once

#include "hostwdk.h"

enum TlgIn_t
{
    TlgInUINT8 = 4,
    TlgInUINT16 = 6,
    TlgInUINT32 = 8,
    TlgInUINT64 = 10,
    TlgInBINARY = 14,
    TlgInFILETIME = 17,
    TlgInSID = 19,
    TlgInHEXINT32 = 20,
    TlgInHEXINT64 = 21,
    TlgInCOUNTEDSTRING = 22
};

enum TlgOut_t
{
    TlgOutNULL = 0,
    TlgOutHEX = 4,
    TlgOutPORT = 7,
    TlgOutIPV4 = 8,
    TlgOutIPV6 = 9,
    TlgOutDATETIME_UTC = 38
};

typedef struct _HOSTWDK_TLG_PROVIDER
{
    const char *Name;
    GUID Id;
    volatile LONG Registered;
} HOSTWDK_TLG_PROVIDER;

typedef HOSTWDK_TLG_PROVIDER *TraceLoggingHProvider;

#define HOSTWDK_TLG_ARG_FIELD   0u
#define HOSTWDK_TLG_ARG_LEVEL   1u
#define HOSTWDK_TLG_ARG_KEYWORD 2u

typedef struct _HOSTWDK_TLG_ARG
{
    UINT32 Kind; /* HOSTWDK_TLG_ARG_* */
    UINT8 InType;
    UINT8 OutType;
    const char *Name;
    const void *Data;
    UINT32 Size; /* bytes at Data */
    UINT64 Value; /* level or keyword */
} HOSTWDK_TLG_ARG;

#define HOSTWDK_TLG_GUID(g1, g2, g3, g4, g5, g6, g7, g8, g9, g10, g11) \
    {(g1), (g2), (g3), {(g4), (g5), (g6), (g7), (g8), (g9), (g10), (g11)}}

#define TRACELOGGING_DEFINE_PROVIDER(handleVariable, providerName, providerId) \
    static HOSTWDK_TLG_PROVIDER _Tlg##handleVariable##Prov = {(providerName), HOSTWDK_TLG_GUID providerId, 0}; \
    static HOSTWDK_TLG_PROVIDER *const handleVariable = &_Tlg##handleVariable##Prov

_IRQL_requires_max_(PASSIVE_LEVEL) NTSTATUS HostWdk_TlgRegister(_Inout_ TraceLoggingHProvider hProvider);
_IRQL_requires_max_(PASSIVE_LEVEL) void HostWdk_TlgUnregister(_Inout_ TraceLoggingHProvider hProvider);
_IRQL_requires_max_(HIGH_LEVEL) BOOLEAN HostWdk_TlgProviderEnabled(_In_ TraceLoggingHProvider hProvider,
                                                                   UCHAR eventLevel, ULONGLONG eventKeyword);
void HostWdk_TlgWrite(_In_ TraceLoggingHProvider hProvider, _In_z_ const char *eventName,
                      _In_reads_(count) const HOSTWDK_TLG_ARG *args, _In_ UINT32 count);

#define TraceLoggingRegister(hProvider) HostWdk_TlgRegister(hProvider)
#define TraceLoggingUnregister(hProvider) HostWdk_TlgUnregister(hProvider)
#define TraceLoggingProviderEnabled(hProvider, eventLevel, eventKeyword) \
    HostWdk_TlgProviderEnabled((hProvider), (eventLevel), (eventKeyword))

#define TraceLoggingWrite(hProvider, eventName, ...)                                                   \
    do                                                                                                 \
    {                                                                                                  \
        const HOSTWDK_TLG_ARG _tlgArgs[] = {__VA_ARGS__};                                              \
        HostWdk_TlgWrite((hProvider), "" eventName, _tlgArgs, (UINT32)(sizeof(_tlgArgs) / sizeof(_tlgArgs[0]))); \
    } while (0)

#define TraceLoggingLevel(eventLevel) {HOSTWDK_TLG_ARG_LEVEL, 0, 0, NULL, NULL, 0, (UINT64)(eventLevel)}
#define TraceLoggingKeyword(eventKeyword) {HOSTWDK_TLG_ARG_KEYWORD, 0, 0, NULL, NULL, 0, (UINT64)(eventKeyword)}

/* A by-value scalar: its value is copied into a compound literal that lives until the write. */
#define HOSTWDK_TLG_SCALAR(ctype, value, inType, outType, name) \
    {HOSTWDK_TLG_ARG_FIELD, (inType), (outType), "" name, &(ctype){(value)}, (UINT32)sizeof(ctype), 0}
#define HOSTWDK_TLG_BYTES(pValue, cbValue, inType, outType, name) \
    {HOSTWDK_TLG_ARG_FIELD, (inType), (outType), "" name, (const void *)(pValue), (UINT32)(cbValue), 0}

#define TraceLoggingUInt8(value, name)     HOSTWDK_TLG_SCALAR(UINT8, value, TlgInUINT8, TlgOutNULL, name)
#define TraceLoggingUInt16(value, name)    HOSTWDK_TLG_SCALAR(UINT16, value, TlgInUINT16, TlgOutNULL, name)
#define TraceLoggingUInt32(value, name)    HOSTWDK_TLG_SCALAR(UINT32, value, TlgInUINT32, TlgOutNULL, name)
#define TraceLoggingUInt64(value, name)    HOSTWDK_TLG_SCALAR(UINT64, value, TlgInUINT64, TlgOutNULL, name)
#define TraceLoggingHexUInt8(value, name)  HOSTWDK_TLG_SCALAR(UINT8, value, TlgInUINT8, TlgOutHEX, name)
#define TraceLoggingHexUInt16(value, name) HOSTWDK_TLG_SCALAR(UINT16, value, TlgInUINT16, TlgOutHEX, name)
#define TraceLoggingHexUInt32(value, name) HOSTWDK_TLG_SCALAR(UINT32, value, TlgInHEXINT32, TlgOutNULL, name)
#define TraceLoggingHexUInt64(value, name) HOSTWDK_TLG_SCALAR(UINT64, value, TlgInHEXINT64, TlgOutNULL, name)
#define TraceLoggingPort(value, name)      HOSTWDK_TLG_SCALAR(UINT16, value, TlgInUINT16, TlgOutPORT, name)
#define TraceLoggingBinary(pValue, cbValue, name) HOSTWDK_TLG_BYTES(pValue, cbValue, TlgInBINARY, TlgOutNULL, name)
#define TraceLoggingBinaryEx(pValue, cbValue, outType, name) \
    HOSTWDK_TLG_BYTES(pValue, cbValue, TlgInBINARY, outType, name)
#define TraceLoggingCountedWideString(pchValue, cchValue, name) \
    HOSTWDK_TLG_BYTES(pchValue, (UINT32)(cchValue) * (UINT32)sizeof(WCHAR), TlgInCOUNTEDSTRING, TlgOutNULL, name)
/* As the WDK's: the length comes from the SID's own sub-authority count. */
#define TraceLoggingSid(pValue, name) \
    HOSTWDK_TLG_BYTES(pValue, 8u + 4u * (UINT32)((const SID *)(pValue))->SubAuthorityCount, TlgInSID, TlgOutNULL, name)
#define TraceLoggingPackedFieldEx(pValue, cbValue, inType, outType, name) \
    HOSTWDK_TLG_BYTES(pValue, cbValue, inType, outType, name)
