/*
 * etw.c - kernel-mode TraceLogging for the host runtime (TraceLoggingProvider.h stand-in).
 *
 * Providers are the driver's TRACELOGGING_DEFINE_PROVIDER variables; the runtime keeps a list of
 * those registered.  Every TraceLoggingWrite of a registered provider whose level and keyword a
 * session enables (HostWdk_EtwEnable: by default every keyword) is stored as one line:
 *   provider <TAB> event <TAB> level <TAB> keyword (hex) {<TAB> name=in:out:bytes (hex)}...
 * Rules (violations): TraceLoggingRegister/Unregister above PASSIVE_LEVEL (the header's
 * _IRQL_requires_max_(PASSIVE_LEVEL)); registering a registered handle (the header: "a serious
 * error"); a write before TraceLoggingRegister or after TraceLoggingUnregister (the header makes
 * it a no-op; here it shows a driver that lost track of its provider); TraceLoggingUnregister
 * while run-time callouts are still registered (their classifyFn can still run and write); a
 * provider still registered when the driver has unloaded (its enable callback would call into
 * unloaded code).
 * TraceLoggingWrite itself may run at any IRQL (EtwWriteTransfer's documentation), so it has no
 * IRQL limit here beyond HIGH_LEVEL.  g_etw_mutex is taken before g_violation_mutex, never after.
 */

#include "hostwdk_internal.h"

#include <TraceLoggingProvider.h>
#include <string.h>

#define HW_ETW_MAX_PROVIDERS 8u

/* The text of `text` ("" before anything was appended). */
static const char *hw_etw_text(const HW_TEXT *text)
{
    return text->Data != NULL ? text->Data : "";
}

static pthread_mutex_t g_etw_mutex = PTHREAD_MUTEX_INITIALIZER;
static HOSTWDK_TLG_PROVIDER *g_etw_providers[HW_ETW_MAX_PROVIDERS]; /* registered now */
static HOSTWDK_TLG_PROVIDER *g_etw_seen[HW_ETW_MAX_PROVIDERS];      /* ever registered, for reset */
static HW_TEXT g_etw_events;
static HW_TEXT g_etw_snapshot;
static uint64_t g_etw_event_count;
static volatile uint64_t g_etw_keywords = ~0ull; /* what the simulated session enables */

static void hw_etw_remember(HOSTWDK_TLG_PROVIDER *provider)
{
    uint32_t i;

    for (i = 0; i < HW_ETW_MAX_PROVIDERS; i++)
    {
        if (g_etw_seen[i] == provider)
        {
            return;
        }
        if (g_etw_seen[i] == NULL)
        {
            g_etw_seen[i] = provider;
            return;
        }
    }
}

NTSTATUS HostWdk_TlgRegister(TraceLoggingHProvider hProvider)
{
    NTSTATUS status = STATUS_SUCCESS;
    uint32_t i;

    if (hw_api_enter(HW_API_TraceLoggingRegister, &status))
    {
        return status;
    }
    pthread_mutex_lock(&g_etw_mutex);
    if (hProvider->Registered)
    {
        pthread_mutex_unlock(&g_etw_mutex);
        hw_violation("TraceLoggingRegister of provider '%s', which is already registered", hProvider->Name);
        return STATUS_INVALID_PARAMETER;
    }
    for (i = 0; i < HW_ETW_MAX_PROVIDERS && g_etw_providers[i] != NULL; i++)
    {
    }
    if (i == HW_ETW_MAX_PROVIDERS)
    {
        pthread_mutex_unlock(&g_etw_mutex);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    g_etw_providers[i] = hProvider;
    hw_etw_remember(hProvider);
    hProvider->Registered = 1;
    pthread_mutex_unlock(&g_etw_mutex);
    hw_log_api(HW_API_TraceLoggingRegister, "TraceLoggingRegister('%s') -> 0x00000000", hProvider->Name);
    return STATUS_SUCCESS;
}

void HostWdk_TlgUnregister(TraceLoggingHProvider hProvider)
{
    HOSTWDK_COUNTERS live;
    NTSTATUS status;
    uint32_t i;

    (void)hw_api_enter(HW_API_TraceLoggingUnregister, &status); /* above PASSIVE_LEVEL: recorded, then done */
    memset(&live, 0, sizeof(live));
    hw_fwp_counters(&live); /* before g_etw_mutex: it takes g_engine_lock */
    if (__atomic_load_n(&hProvider->Registered, __ATOMIC_RELAXED) && live.runtime_callouts != 0)
    {
        hw_violation("TraceLoggingUnregister of provider '%s' while %u run-time callout(s) are still registered: "
                     "the packets they classify until they are unregistered get no event, and a classifyFn "
                     "running now races the unregistration (unregister the callouts first)",
                     hProvider->Name, (unsigned)live.runtime_callouts);
    }
    pthread_mutex_lock(&g_etw_mutex);
    for (i = 0; i < HW_ETW_MAX_PROVIDERS; i++)
    {
        if (g_etw_providers[i] == hProvider)
        {
            g_etw_providers[i] = NULL;
        }
    }
    hProvider->Registered = 0; /* unregistering an unregistered handle is a safe no-op */
    pthread_mutex_unlock(&g_etw_mutex);
    hw_log_api(HW_API_TraceLoggingUnregister, "TraceLoggingUnregister('%s')", hProvider->Name);
}

BOOLEAN HostWdk_TlgProviderEnabled(TraceLoggingHProvider hProvider, UCHAR eventLevel, ULONGLONG eventKeyword)
{
    NTSTATUS status;
    uint64_t enabled = __atomic_load_n(&g_etw_keywords, __ATOMIC_RELAXED);

    (void)eventLevel; /* the simulated session takes every level */
    (void)hw_api_enter(HW_API_TraceLoggingProviderEnabled, &status);
    if (!__atomic_load_n(&hProvider->Registered, __ATOMIC_RELAXED) || enabled == 0)
    {
        return FALSE;
    }
    return eventKeyword == 0 || (eventKeyword & enabled) != 0;
}

void HostWdk_TlgWrite(TraceLoggingHProvider hProvider, const char *eventName, const HOSTWDK_TLG_ARG *args,
                      UINT32 count)
{
    NTSTATUS status;
    uint64_t level = 5; /* TraceLogging's default: TRACE_LEVEL_VERBOSE */
    uint64_t keyword = 0;
    uint32_t i;
    uint32_t j;

    (void)hw_api_enter(HW_API_TraceLoggingWrite, &status);
    for (i = 0; i < count; i++)
    {
        if (args[i].Kind == HOSTWDK_TLG_ARG_LEVEL)
        {
            level = args[i].Value;
        }
        else if (args[i].Kind == HOSTWDK_TLG_ARG_KEYWORD)
        {
            keyword |= args[i].Value;
        }
    }
    pthread_mutex_lock(&g_etw_mutex);
    if (!hProvider->Registered)
    {
        pthread_mutex_unlock(&g_etw_mutex);
        hw_violation("TraceLoggingWrite of event '%s' while provider '%s' is not registered (before "
                     "TraceLoggingRegister or after TraceLoggingUnregister) in %s",
                     eventName, hProvider->Name, hw_thread()->Context);
        return;
    }
    if (keyword != 0 && (keyword & __atomic_load_n(&g_etw_keywords, __ATOMIC_RELAXED)) == 0)
    {
        pthread_mutex_unlock(&g_etw_mutex);
        return; /* no session wants it: ETW drops it */
    }
    hw_text_append(&g_etw_events, "%s\t%s\t%llu\t%llx", hProvider->Name, eventName, (unsigned long long)level,
                   (unsigned long long)keyword);
    for (i = 0; i < count; i++)
    {
        const UINT8 *bytes = (const UINT8 *)args[i].Data;

        if (args[i].Kind != HOSTWDK_TLG_ARG_FIELD)
        {
            continue;
        }
        hw_text_append(&g_etw_events, "\t%s=%u:%u:", args[i].Name, (unsigned)args[i].InType,
                       (unsigned)args[i].OutType);
        for (j = 0; j < args[i].Size && bytes != NULL; j++)
        {
            hw_text_append(&g_etw_events, "%02x", bytes[j]);
        }
    }
    hw_text_append(&g_etw_events, "\n");
    g_etw_event_count++;
    pthread_mutex_unlock(&g_etw_mutex);
}

void hw_etw_counters(HOSTWDK_COUNTERS *counters)
{
    uint32_t i;

    pthread_mutex_lock(&g_etw_mutex);
    for (i = 0; i < HW_ETW_MAX_PROVIDERS; i++)
    {
        counters->etw_providers += g_etw_providers[i] != NULL;
    }
    pthread_mutex_unlock(&g_etw_mutex);
}

void hw_etw_audit(const char *prefix)
{
    const char *names[HW_ETW_MAX_PROVIDERS];
    uint32_t count = 0;
    uint32_t i;

    pthread_mutex_lock(&g_etw_mutex);
    for (i = 0; i < HW_ETW_MAX_PROVIDERS; i++)
    {
        if (g_etw_providers[i] != NULL)
        {
            names[count++] = g_etw_providers[i]->Name;
        }
    }
    pthread_mutex_unlock(&g_etw_mutex);
    for (i = 0; i < count; i++)
    {
        hw_violation("%sETW provider '%s' is still registered (TraceLoggingUnregister missing)", prefix, names[i]);
    }
}

void hw_etw_reset(void)
{
    uint32_t i;

    pthread_mutex_lock(&g_etw_mutex);
    for (i = 0; i < HW_ETW_MAX_PROVIDERS; i++)
    {
        g_etw_providers[i] = NULL;
        if (g_etw_seen[i] != NULL)
        {
            g_etw_seen[i]->Registered = 0;
        }
    }
    hw_text_clear(&g_etw_events);
    g_etw_event_count = 0;
    __atomic_store_n(&g_etw_keywords, ~0ull, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&g_etw_mutex);
}

void HostWdk_EtwEnable(uint64_t keywords)
{
    __atomic_store_n(&g_etw_keywords, keywords, __ATOMIC_RELAXED);
}

const char *HostWdk_EtwEvents(void)
{
    pthread_mutex_lock(&g_etw_mutex);
    hw_text_clear(&g_etw_snapshot);
    hw_text_append(&g_etw_snapshot, "%s", hw_etw_text(&g_etw_events));
    pthread_mutex_unlock(&g_etw_mutex);
    return hw_etw_text(&g_etw_snapshot);
}

void HostWdk_EtwClear(void)
{
    pthread_mutex_lock(&g_etw_mutex);
    hw_text_clear(&g_etw_events);
    g_etw_event_count = 0;
    pthread_mutex_unlock(&g_etw_mutex);
}
