/*
 * TraceLoggingProvider.h - MinGW-w64 cross-build stand-in for the WDK's kernel-mode TraceLogging
 * (wfpgen.crossbuild).  MinGW-w64 has no TraceLoggingProvider.h.
 *
 * Exactly the names wfpgen's etw sink uses, with the WDK's argument shapes (every field macro
 * here requires its name, which the WDK's makes optional) and the WDK's numbers for the TlgIn_t
 * and TlgOut_t values it names.  They lower to what the WDK's lower to in a driver: EtwRegister
 * with an enable callback that keeps the session's level and keywords in the provider,
 * TraceLoggingProviderEnabled over those, EtwWriteTransfer with one EVENT_DATA_DESCRIPTOR per
 * field (a 16-bit size before a counted string or a binary field, as TraceLogging sends it),
 * EtwUnregister: the image imports EtwRegister, EtwWriteTransfer and EtwUnregister from
 * ntoskrnl.exe as a WDK build does.
 *
 * Deliberate differences (scripts/shim_simplifications.json): no TraceLogging metadata is built
 * (no provider or event metadata descriptors, no field names or types in the event: a consumer
 * cannot decode what this image writes; the cross build is a check artefact, never shipped);
 * the provider structure keeps only the members these functions read; TRACELOGGING_DEFINE_PROVIDER
 * takes no provider options.  Every macro and type is checked against the real header by the
 * real-header tier (wfpgen.realheaders), which compiles the same sources against the WDK.
 */
#ifndef WFPGEN_TRACELOGGINGPROVIDER_H
#define WFPGEN_TRACELOGGINGPROVIDER_H

#include <ntddk.h>

enum TlgIn_t
{
    TlgInNULL = 0,
    TlgInUNICODESTRING = 1,
    TlgInANSISTRING = 2,
    TlgInINT8 = 3,
    TlgInUINT8 = 4,
    TlgInINT16 = 5,
    TlgInUINT16 = 6,
    TlgInINT32 = 7,
    TlgInUINT32 = 8,
    TlgInINT64 = 9,
    TlgInUINT64 = 10,
    TlgInFLOAT = 11,
    TlgInDOUBLE = 12,
    TlgInBOOL32 = 13,
    TlgInBINARY = 14,
    TlgInGUID = 15,
    TlgInPOINTER_unsupported = 16,
    TlgInFILETIME = 17,
    TlgInSYSTEMTIME = 18,
    TlgInSID = 19,
    TlgInHEXINT32 = 20,
    TlgInHEXINT64 = 21,
    TlgInCOUNTEDSTRING = 22,
    TlgInCOUNTEDANSISTRING = 23,
    TlgInSTRUCT = 24,
    TlgInCOUNTEDBINARY = 25,
    _TlgInMax,
    TlgInINTPTR = TlgInINT64,
    TlgInUINTPTR = TlgInUINT64,
    TlgInPOINTER = TlgInHEXINT64,
    _TlgInCcount = 0x20,
    TlgInVcount = 0x40,
    _TlgInChain = 0x80,
    _TlgInCustom = 0x60,
    _TlgInTypeMask = 0x1F,
    _TlgInCountMask = 0x60,
    _TlgInFlagMask = 0xE0
};

enum TlgOut_t
{
    TlgOutNULL = 0,
    TlgOutNOPRINT = 1,
    TlgOutSTRING = 2,
    TlgOutBOOLEAN = 3,
    TlgOutHEX = 4,
    TlgOutPID = 5,
    TlgOutTID = 6,
    TlgOutPORT = 7,
    TlgOutIPV4 = 8,
    TlgOutIPV6 = 9,
    TlgOutSOCKETADDRESS = 10,
    TlgOutXML = 11,
    TlgOutJSON = 12,
    TlgOutWIN32ERROR = 13,
    TlgOutNTSTATUS = 14,
    TlgOutHRESULT = 15,
    TlgOutFILETIME = 16,
    TlgOutSIGNED = 17,
    TlgOutUNSIGNED = 18,
    TlgOutDATETIME_CULTURE_INSENSITIVE = 33,
    TlgOutUTF8 = 35,
    TlgOutPKCS7_WITH_TYPE_INFO = 36,
    TlgOutCODE_POINTER = 37,
    TlgOutDATETIME_UTC = 38,
    _TlgOutMax,
    _TlgOutChain = 0x80,
    _TlgOutTypeMask = 0x7F
};

/* The members the functions below read; the WDK's structure has these and more. */
struct _tlgProvider_t
{
    UINT32 LevelPlus1;
    ULONGLONG KeywordAny;
    ULONGLONG KeywordAll;
    REGHANDLE RegHandle;
    GUID ProviderId;  /* the WDK keeps it in the provider's metadata */
    const char *Name; /* likewise */
};

typedef struct _tlgProvider_t const *TraceLoggingHProvider;

#define WFPGEN_TLG_GUID(g1, g2, g3, g4, g5, g6, g7, g8, g9, g10, g11) \
    {(g1), (g2), (g3), {(g4), (g5), (g6), (g7), (g8), (g9), (g10), (g11)}}

/* The name must be a string literal, as the WDK's macro requires. */
#define TRACELOGGING_DEFINE_PROVIDER(handleVariable, providerName, providerId)                          \
    static struct _tlgProvider_t _Tlg##handleVariable##Prov = {0, 0, 0, 0, WFPGEN_TLG_GUID providerId,    \
                                                               "" providerName};                        \
    TraceLoggingHProvider const handleVariable = &_Tlg##handleVariable##Prov

/* What ETW tells the provider when sessions enable or disable it (the WDK's _tlgEnableCallback). */
static __inline VOID NTAPI WfpgenTlgEnableCallback(LPCGUID SourceId, ULONG ControlCode, UCHAR Level, ULONGLONG MatchAnyKeyword,
                                          ULONGLONG MatchAllKeyword, PEVENT_FILTER_DESCRIPTOR FilterData,
                                          PVOID CallbackContext)
{
    struct _tlgProvider_t *provider = (struct _tlgProvider_t *)CallbackContext;

    (void)SourceId;
    (void)FilterData;
    if (ControlCode == 1u) /* EVENT_CONTROL_CODE_ENABLE_PROVIDER */
    {
        provider->LevelPlus1 = (UINT32)Level + 1u;
        provider->KeywordAny = MatchAnyKeyword;
        provider->KeywordAll = MatchAllKeyword;
    }
    else if (ControlCode == 0u) /* EVENT_CONTROL_CODE_DISABLE_PROVIDER */
    {
        provider->LevelPlus1 = 0;
        provider->KeywordAny = 0;
        provider->KeywordAll = 0;
    }
}

_IRQL_requires_max_(PASSIVE_LEVEL) static __inline NTSTATUS TraceLoggingRegister(TraceLoggingHProvider hProvider)
{
    struct _tlgProvider_t *provider = (struct _tlgProvider_t *)hProvider;

    return EtwRegister(&provider->ProviderId, WfpgenTlgEnableCallback, provider, &provider->RegHandle);
}

_IRQL_requires_max_(PASSIVE_LEVEL) static __inline void TraceLoggingUnregister(TraceLoggingHProvider hProvider)
{
    struct _tlgProvider_t *provider = (struct _tlgProvider_t *)hProvider;
    REGHANDLE handle = provider->RegHandle;

    provider->LevelPlus1 = 0;
    provider->RegHandle = 0;
    EtwUnregister(handle);
}

_IRQL_requires_max_(HIGH_LEVEL) static __inline BOOLEAN
TraceLoggingProviderEnabled(TraceLoggingHProvider hProvider, UCHAR eventLevel, ULONGLONG eventKeyword)
{
    return eventLevel < hProvider->LevelPlus1 &&
           (eventKeyword == 0 || ((eventKeyword & hProvider->KeywordAny) != 0 &&
                                  (eventKeyword & hProvider->KeywordAll) == hProvider->KeywordAll));
}

/* One argument of TraceLoggingWrite: a field's bytes, or the event's level or keyword. */
#define WFPGEN_TLG_FIELD   0u
#define WFPGEN_TLG_LEVEL   1u
#define WFPGEN_TLG_KEYWORD 2u
#define WFPGEN_TLG_MAX_DESCRIPTORS 64u

typedef struct _WFPGEN_TLG_ARG
{
    ULONG Kind; /* WFPGEN_TLG_* */
    const void *Data;
    ULONG Size;
    ULONGLONG Value; /* level or keyword */
} WFPGEN_TLG_ARG;

_IRQL_requires_max_(HIGH_LEVEL) static __inline void WfpgenTlgWrite(TraceLoggingHProvider hProvider,
                                                                    const WFPGEN_TLG_ARG *Args, ULONG Count)
{
    EVENT_DATA_DESCRIPTOR data[WFPGEN_TLG_MAX_DESCRIPTORS];
    EVENT_DESCRIPTOR descriptor;
    ULONG used = 0;
    ULONG i;

    RtlZeroMemory(&descriptor, sizeof(descriptor));
    descriptor.Channel = 11; /* TraceLogging's channel */
    descriptor.Level = 5;    /* TRACE_LEVEL_VERBOSE unless TraceLoggingLevel says otherwise */
    for (i = 0; i < Count; i++)
    {
        if (Args[i].Kind == WFPGEN_TLG_LEVEL)
        {
            descriptor.Level = (UCHAR)Args[i].Value;
        }
        else if (Args[i].Kind == WFPGEN_TLG_KEYWORD)
        {
            descriptor.Keyword |= Args[i].Value;
        }
        else if (used < WFPGEN_TLG_MAX_DESCRIPTORS)
        {
            data[used].Ptr = (ULONGLONG)(ULONG_PTR)Args[i].Data;
            data[used].Size = Args[i].Size;
            data[used].Reserved = 0;
            used++;
        }
    }
    if (hProvider->RegHandle == 0 ||
        !TraceLoggingProviderEnabled(hProvider, descriptor.Level, descriptor.Keyword))
    {
        return;
    }
    (void)EtwWriteTransfer(hProvider->RegHandle, &descriptor, NULL, NULL, used, data);
}

#define TraceLoggingWrite(hProvider, eventName, ...)                                              \
    do                                                                                            \
    {                                                                                             \
        const WFPGEN_TLG_ARG _tlgArgs[] = {__VA_ARGS__};                                          \
        (void)sizeof("" eventName);                                                               \
        WfpgenTlgWrite((hProvider), _tlgArgs, (ULONG)(sizeof(_tlgArgs) / sizeof(_tlgArgs[0]))); \
    } while (0)

#define TraceLoggingLevel(eventLevel) {WFPGEN_TLG_LEVEL, NULL, 0, (ULONGLONG)(eventLevel)}
#define TraceLoggingKeyword(eventKeyword) {WFPGEN_TLG_KEYWORD, NULL, 0, (ULONGLONG)(eventKeyword)}

/* A by-value scalar: its value in a compound literal that lives until the write returns. The
   name must be a string literal (sizeof checks that much); no metadata records it. */
#define WFPGEN_TLG_SCALAR(ctype, value, name) \
    {WFPGEN_TLG_FIELD, &(ctype){(value)}, (ULONG)sizeof(ctype) + 0u * (ULONG)sizeof("" name), 0}
#define WFPGEN_TLG_BYTES(pValue, cbValue, name) \
    {WFPGEN_TLG_FIELD, (const void *)(pValue), (ULONG)(cbValue) + 0u * (ULONG)sizeof("" name), 0}
/* Counted and binary fields: the byte count as a UINT16, then the bytes. */
#define WFPGEN_TLG_COUNTED(pValue, cbValue, name)                                          \
    {WFPGEN_TLG_FIELD, &(UINT16){(UINT16)(cbValue)}, (ULONG)sizeof(UINT16), 0},            \
    WFPGEN_TLG_BYTES(pValue, (UINT16)(cbValue), name)

#define TraceLoggingUInt8(value, name)     WFPGEN_TLG_SCALAR(UINT8, value, name)
#define TraceLoggingUInt16(value, name)    WFPGEN_TLG_SCALAR(UINT16, value, name)
#define TraceLoggingUInt32(value, name)    WFPGEN_TLG_SCALAR(UINT32, value, name)
#define TraceLoggingUInt64(value, name)    WFPGEN_TLG_SCALAR(UINT64, value, name)
#define TraceLoggingHexUInt8(value, name)  WFPGEN_TLG_SCALAR(UINT8, value, name)
#define TraceLoggingHexUInt16(value, name) WFPGEN_TLG_SCALAR(UINT16, value, name)
#define TraceLoggingHexUInt32(value, name) WFPGEN_TLG_SCALAR(UINT32, value, name)
#define TraceLoggingHexUInt64(value, name) WFPGEN_TLG_SCALAR(UINT64, value, name)
#define TraceLoggingPort(value, name)      WFPGEN_TLG_SCALAR(UINT16, value, name)
#define TraceLoggingBinary(pValue, cbValue, name) WFPGEN_TLG_COUNTED(pValue, cbValue, name)
#define TraceLoggingBinaryEx(pValue, cbValue, outType, name) \
    WFPGEN_TLG_COUNTED(pValue, (cbValue) + 0u * (ULONG)(outType), name)
#define TraceLoggingCountedWideString(pchValue, cchValue, name) \
    WFPGEN_TLG_COUNTED((const WCHAR *)(pchValue), (ULONG)(cchValue) * (ULONG)sizeof(WCHAR), name)
/* As the WDK's: the length comes from the SID's own sub-authority count. */
#define TraceLoggingSid(pValue, name) \
    WFPGEN_TLG_BYTES(pValue, 8u + 4u * (ULONG)((const SID *)(pValue))->SubAuthorityCount, name)
#define TraceLoggingPackedFieldEx(pValue, cbValue, inType, outType, name) \
    WFPGEN_TLG_BYTES(pValue, (cbValue) + 0u * (ULONG)(inType) + 0u * (ULONG)(outType), name)

#endif /* WFPGEN_TRACELOGGINGPROVIDER_H */
