/*
 * fwp.c - host runtime: an in-memory filter engine.  Management sessions (dynamic sessions,
 * transactions with rollback), providers, sublayers, management callouts and filters with
 * WFP's validation and error codes; run-time callouts (FwpsCalloutRegisterN) with their
 * notifications; and classification: conditions evaluated against the incoming values, the
 * matching filters' callouts run at DISPATCH_LEVEL, filter arbitration across sublayers.
 */

#define _GNU_SOURCE

#include "hostwdk_internal.h"

/* The run-time view of a filter handed to classifyFn and notifyFn: opaque to the driver
 * (hostwdk.h leaves FWPS_FILTERn incomplete), so this layout is the host's own. */
typedef struct _HW_FWPS_CONDITION
{
    UINT16 fieldId;
    UINT16 reserved;
    FWP_MATCH_TYPE matchType;
    FWP_CONDITION_VALUE0 conditionValue;
} HW_FWPS_CONDITION;

struct FWPS_FILTER3_
{
    UINT64 filterId;
    FWP_VALUE0 weight;
    UINT16 subLayerWeight;
    UINT16 flags;
    UINT32 numFilterConditions;
    HW_FWPS_CONDITION *filterCondition;
    struct
    {
        FWP_ACTION_TYPE type;
        UINT32 calloutId;
    } action;
    UINT64 context;
    void *providerContext;
};

typedef enum _HW_KIND
{
    HW_PROVIDER,
    HW_SUBLAYER,
    HW_CALLOUT,
    HW_FILTER,
    HW_KINDS
} HW_KIND;

static const char *const g_kind_names[HW_KINDS] = {"provider", "sublayer", "callout", "filter"};

typedef struct _HW_CONDITION
{
    UINT16 Field;
    FWP_DATA_TYPE FieldType;
    FWPM_FILTER_CONDITION0 Value; /* deep copy: pointers inside are owned */
} HW_CONDITION;

/* One management object; which members matter depends on Kind. */
typedef struct _HW_OBJECT
{
    HW_KIND Kind;
    GUID Key;
    uint32_t Session;    /* engine that added it */
    BOOLEAN Dynamic;     /* added in a dynamic session: deleted when that session closes */
    BOOLEAN Uncommitted; /* added in a transaction not yet committed: invisible to classify */
    BOOLEAN Hidden;      /* filter whose ADD notification is in progress */
    BOOLEAN Notified;    /* filter whose callout got FWPS_CALLOUT_NOTIFY_ADD_FILTER */
    uint64_t Order;
    GUID Provider;
    BOOLEAN HasProvider;
    UINT16 SubLayerWeight;                 /* sublayer: its weight; filter: its sublayer's */
    const HOSTWDK_CATALOG_LAYER *Layer;    /* callout: applicable layer; filter: its layer */
    UINT32 CalloutId;                      /* callout */
    UINT32 CalloutFlags;                   /* callout: FWP_CALLOUT_FLAG_* */
    UINT64 FilterId;                       /* filter */
    UINT64 Weight;
    GUID SubLayer;
    FWP_ACTION_TYPE Action;
    GUID CalloutKey;
    UINT32 ConditionCount;
    HW_CONDITION *Conditions;
    HW_FWPS_CONDITION *RuntimeConditions;
    struct FWPS_FILTER3_ Runtime;
    struct _HW_OBJECT *Next;
} HW_OBJECT;

typedef struct _HW_UNDO
{
    BOOLEAN Added; /* else deleted (the object is kept until commit) */
    HW_OBJECT *Object;
    struct _HW_UNDO *Next;
} HW_UNDO;

typedef struct _HW_ENGINE
{
    uint32_t Id;
    BOOLEAN Dynamic;
    BOOLEAN InTransaction;
    HW_UNDO *Undo; /* newest first */
    struct _HW_ENGINE *Next;
} HW_ENGINE;

typedef struct _HW_RCALLOUT
{
    GUID Key;
    UINT32 Id;
    int Version;
    void *Classify;
    void *Notify;
    void *FlowDelete; /* FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0, or NULL: then no flow context may be associated */
    const void *Device;
    uint32_t BusyContexts; /* flow contexts that made the last unregistration fail (STATUS_DEVICE_BUSY) */
    /* classifyFn calls of this callout running now. classifyFn runs with the engine lock held
     * for reading and unregistration takes it for writing, so unregistration waits for every
     * in-progress classifyFn and none starts after it (or after the filter's deletion); this
     * count lets hw_unregister check that rule instead of assuming it. */
    uint32_t Active;
    struct _HW_RCALLOUT *Next;
} HW_RCALLOUT;

typedef struct _HW_CALLOUT_ID
{
    GUID Key;
    UINT32 Id;
    struct _HW_CALLOUT_ID *Next;
} HW_CALLOUT_ID;

static pthread_rwlock_t g_engine_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static HW_OBJECT *g_objects[HW_KINDS];
static uint32_t g_object_counts[HW_KINDS];
static HW_ENGINE *g_engines;
static HW_RCALLOUT *g_rcallouts;
static HW_CALLOUT_ID *g_callout_ids;
static uint32_t g_next_engine;
static uint32_t g_next_callout_id;
static uint64_t g_next_filter_id;
static uint64_t g_next_order;
static uint32_t g_value_count_limit; /* atomic: 0, or the most values classify reports (test hook) */

/* FWPM_SUBLAYER_UNIVERSAL: the sublayer of filters that name none. */
static const GUID g_universal_sublayer = {0xeebecc03, 0xced4, 0x4380, {0x81, 0x9a, 0x27, 0x34, 0x39, 0x7b, 0x2b, 0x74}};

#define HW_ENGINE_HANDLE_BASE 0x7E000000u
#define RPC_C_AUTHN_DEFAULT_HOST 0xFFFFFFFFu

/* -- notifications, run outside the engine lock ------------------------------------------------- */

typedef struct _HW_NOTE
{
    void *Notify;
    int Version;
    FWPS_CALLOUT_NOTIFY_TYPE Type;
    HW_OBJECT *Filter;
    BOOLEAN FreeAfter;
    struct _HW_NOTE *Next;
} HW_NOTE;

static HW_RCALLOUT *hw_rcallout_by_key(const GUID *key)
{
    HW_RCALLOUT *it;

    for (it = g_rcallouts; it != NULL; it = it->Next)
    {
        if (hw_guid_equal(&it->Key, key))
        {
            return it;
        }
    }
    return NULL;
}

static BOOLEAN hw_is_callout_action(FWP_ACTION_TYPE action)
{
    return (action & FWP_ACTION_FLAG_CALLOUT) != 0;
}

static void hw_free_object(HW_OBJECT *object);

/* Queues a notification for `filter` (engine lock held) and/or its freeing. */
static void hw_note(HW_NOTE **notes, HW_OBJECT *filter, FWPS_CALLOUT_NOTIFY_TYPE type, BOOLEAN free_after)
{
    HW_NOTE *note = calloc(1, sizeof(*note));
    HW_RCALLOUT *callout = NULL;

    if (note == NULL)
    {
        abort();
    }
    if (filter->Kind == HW_FILTER && hw_is_callout_action(filter->Action))
    {
        callout = hw_rcallout_by_key(&filter->CalloutKey);
    }
    if (callout != NULL && callout->Notify != NULL &&
        (type == FWPS_CALLOUT_NOTIFY_ADD_FILTER || filter->Notified))
    {
        note->Notify = callout->Notify;
        note->Version = callout->Version;
    }
    note->Type = type;
    note->Filter = filter;
    note->FreeAfter = free_after;
    /* Keep the order of the events: append. */
    while (*notes != NULL)
    {
        notes = &(*notes)->Next;
    }
    *notes = note;
}

static NTSTATUS hw_call_notify(void *notify, int version, FWPS_CALLOUT_NOTIFY_TYPE type, HW_OBJECT *filter)
{
    const char *previous = hw_enter_driver("notifyFn", PASSIVE_LEVEL);
    NTSTATUS status;

    switch (version)
    {
    case 1:
        status = ((FWPS_CALLOUT_NOTIFY_FN1)notify)(type, &filter->Key, (FWPS_FILTER1 *)(void *)&filter->Runtime);
        break;
    case 2:
        status = ((FWPS_CALLOUT_NOTIFY_FN2)notify)(type, &filter->Key, (FWPS_FILTER2 *)(void *)&filter->Runtime);
        break;
    default:
        status = ((FWPS_CALLOUT_NOTIFY_FN3)notify)(type, &filter->Key, &filter->Runtime);
        break;
    }
    hw_leave_driver("notifyFn", PASSIVE_LEVEL, previous, PASSIVE_LEVEL);
    return status;
}

/* Runs queued notifications (no lock held) and frees what was queued for freeing. */
static void hw_run_notes(HW_NOTE *notes)
{
    while (notes != NULL)
    {
        HW_NOTE *note = notes;
        char key[37];

        notes = note->Next;
        if (note->Notify != NULL)
        {
            NTSTATUS status = hw_call_notify(note->Notify, note->Version, note->Type, note->Filter);

            hw_log("notifyFn(%s, filter %s) -> 0x%08X",
                   note->Type == FWPS_CALLOUT_NOTIFY_ADD_FILTER ? "FWPS_CALLOUT_NOTIFY_ADD_FILTER"
                                                                : "FWPS_CALLOUT_NOTIFY_DELETE_FILTER",
                   hw_guid_text(&note->Filter->Key, key), (unsigned)status);
            if (note->Type == FWPS_CALLOUT_NOTIFY_ADD_FILTER && NT_SUCCESS(status))
            {
                note->Filter->Notified = TRUE;
            }
        }
        if (note->FreeAfter)
        {
            hw_free_object(note->Filter);
        }
        free(note);
    }
}

/* -- objects ------------------------------------------------------------------------------------ */

static void hw_free_condition_value(FWP_CONDITION_VALUE0 *value)
{
    switch (value->type)
    {
    case FWP_UINT64:
    case FWP_INT64:
    case FWP_DOUBLE:
    case FWP_BYTE_ARRAY16_TYPE:
    case FWP_BYTE_ARRAY6_TYPE:
    case FWP_SID:
    case FWP_UNICODE_STRING_TYPE:
    case FWP_V4_ADDR_MASK:
    case FWP_V6_ADDR_MASK:
        free(value->uint64); /* every member of the union is a pointer for these types */
        break;
    case FWP_BYTE_BLOB_TYPE:
    case FWP_SECURITY_DESCRIPTOR_TYPE:
    case FWP_TOKEN_ACCESS_INFORMATION_TYPE:
        if (value->byteBlob != NULL)
        {
            free(value->byteBlob->data);
            free(value->byteBlob);
        }
        break;
    case FWP_RANGE_TYPE:
        if (value->rangeValue != NULL)
        {
            hw_free_condition_value((FWP_CONDITION_VALUE0 *)(void *)&value->rangeValue->valueLow);
            hw_free_condition_value((FWP_CONDITION_VALUE0 *)(void *)&value->rangeValue->valueHigh);
            free(value->rangeValue);
        }
        break;
    default:
        break;
    }
    value->type = FWP_EMPTY;
}

static void hw_free_object(HW_OBJECT *object)
{
    UINT32 i;

    if (object == NULL)
    {
        return;
    }
    for (i = 0; i < object->ConditionCount; i++)
    {
        hw_free_condition_value(&object->Conditions[i].Value.conditionValue);
    }
    free(object->Conditions);
    free(object->RuntimeConditions);
    free(object);
}

static HW_OBJECT *hw_find(HW_KIND kind, const GUID *key)
{
    HW_OBJECT *it;

    for (it = g_objects[kind]; it != NULL; it = it->Next)
    {
        if (hw_guid_equal(&it->Key, key))
        {
            return it;
        }
    }
    return NULL;
}

static HW_OBJECT *hw_find_filter_by_id(UINT64 id)
{
    HW_OBJECT *it;

    for (it = g_objects[HW_FILTER]; it != NULL; it = it->Next)
    {
        if (it->FilterId == id)
        {
            return it;
        }
    }
    return NULL;
}

static void hw_link_object(HW_OBJECT *object)
{
    HW_OBJECT **tail = &g_objects[object->Kind];

    while (*tail != NULL)
    {
        tail = &(*tail)->Next;
    }
    object->Next = NULL;
    object->Order = ++g_next_order;
    *tail = object;
    g_object_counts[object->Kind]++;
}

static BOOLEAN hw_unlink_object(HW_OBJECT *object)
{
    HW_OBJECT **it;

    for (it = &g_objects[object->Kind]; *it != NULL; it = &(*it)->Next)
    {
        if (*it == object)
        {
            *it = object->Next;
            object->Next = NULL;
            g_object_counts[object->Kind]--;
            return TRUE;
        }
    }
    return FALSE;
}

static HW_ENGINE *hw_engine(HANDLE handle)
{
    uintptr_t value = (uintptr_t)handle;
    HW_ENGINE *it;

    if (value <= HW_ENGINE_HANDLE_BASE)
    {
        return NULL;
    }
    for (it = g_engines; it != NULL; it = it->Next)
    {
        if (it->Id == (uint32_t)(value - HW_ENGINE_HANDLE_BASE))
        {
            return it;
        }
    }
    return NULL;
}

static BOOLEAN hw_push_undo(HW_ENGINE *engine, BOOLEAN added, HW_OBJECT *object)
{
    HW_UNDO *undo;

    if (!engine->InTransaction)
    {
        return TRUE;
    }
    undo = calloc(1, sizeof(*undo));
    if (undo == NULL)
    {
        return FALSE;
    }
    undo->Added = added;
    undo->Object = object;
    undo->Next = engine->Undo;
    engine->Undo = undo;
    return TRUE;
}

/* Adds a new object in `engine`'s session (engine lock held for writing). */
static NTSTATUS hw_add_object(HW_ENGINE *engine, HW_OBJECT *object)
{
    object->Session = engine->Id;
    object->Dynamic = engine->Dynamic;
    object->Uncommitted = engine->InTransaction;
    if (!hw_push_undo(engine, TRUE, object))
    {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    hw_link_object(object);
    return STATUS_SUCCESS;
}

static UINT32 hw_callout_id_for(const GUID *key)
{
    HW_CALLOUT_ID *it;

    for (it = g_callout_ids; it != NULL; it = it->Next)
    {
        if (hw_guid_equal(&it->Key, key))
        {
            return it->Id;
        }
    }
    it = calloc(1, sizeof(*it));
    if (it == NULL)
    {
        abort();
    }
    it->Key = *key;
    it->Id = ++g_next_callout_id;
    it->Next = g_callout_ids;
    g_callout_ids = it;
    return it->Id;
}

static const HOSTWDK_CATALOG_LAYER *hw_layer_by_key(const GUID *key)
{
    UINT32 i;

    for (i = 0; i < HostWdkCatalogLayerCount; i++)
    {
        if (hw_guid_equal(&HostWdkCatalogLayers[i].LayerKey, key))
        {
            return &HostWdkCatalogLayers[i];
        }
    }
    return NULL;
}

static const HOSTWDK_CATALOG_LAYER *hw_layer_by_id(UINT16 id)
{
    UINT32 i;

    for (i = 0; i < HostWdkCatalogLayerCount; i++)
    {
        if (HostWdkCatalogLayers[i].LayerId == id)
        {
            return &HostWdkCatalogLayers[i];
        }
    }
    return NULL;
}

static const HOSTWDK_CATALOG_FIELD *hw_field_by_key(const HOSTWDK_CATALOG_LAYER *layer, const GUID *key)
{
    UINT32 i;

    for (i = 0; i < layer->ConditionCount; i++)
    {
        if (hw_guid_equal(&layer->Conditions[i].ConditionKey, key))
        {
            return &layer->Conditions[i];
        }
    }
    return NULL;
}

/* Common start of every management call: IRQL, fault, handle.  Takes the engine lock for
 * writing when it returns STATUS_SUCCESS. */
static NTSTATUS hw_begin(HW_API api, HANDLE engineHandle, HW_ENGINE **engine)
{
    NTSTATUS status;

    *engine = NULL;
    if (hw_api_enter(api, &status))
    {
        return status;
    }
    pthread_rwlock_wrlock(&g_engine_lock);
    *engine = hw_engine(engineHandle);
    if (*engine == NULL)
    {
        pthread_rwlock_unlock(&g_engine_lock);
        hw_violation("%s: %p is not an open filter engine handle", hw_api_name(api), engineHandle);
        return STATUS_INVALID_HANDLE;
    }
    return STATUS_SUCCESS;
}

/* Whether `engine` may delete `object` (dynamic-session rules of Fwpm*Delete*). */
static NTSTATUS hw_may_delete(const HW_ENGINE *engine, const HW_OBJECT *object)
{
    if (engine->Dynamic && !object->Dynamic)
    {
        return STATUS_FWP_DYNAMIC_SESSION_IN_PROGRESS;
    }
    if (object->Dynamic && object->Session != engine->Id)
    {
        return STATUS_FWP_WRONG_SESSION;
    }
    return STATUS_SUCCESS;
}

/* Deletes `object` (engine lock held); filters queue their DELETE notification. */
static NTSTATUS hw_delete_object(HW_ENGINE *engine, HW_OBJECT *object, HW_NOTE **notes)
{
    NTSTATUS status = hw_may_delete(engine, object);

    if (!NT_SUCCESS(status))
    {
        return status;
    }
    if (!hw_push_undo(engine, FALSE, object))
    {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    hw_unlink_object(object);
    if (object->Kind == HW_FILTER)
    {
        hw_note(notes, object, FWPS_CALLOUT_NOTIFY_DELETE_FILTER, !engine->InTransaction);
    }
    else if (!engine->InTransaction)
    {
        hw_free_object(object);
    }
    return STATUS_SUCCESS;
}

/* Whether anything still refers to `object` (FWP_E_IN_USE). */
static BOOLEAN hw_in_use(const HW_OBJECT *object)
{
    HW_OBJECT *it;
    int kind;

    for (kind = 0; kind < HW_KINDS; kind++)
    {
        for (it = g_objects[kind]; it != NULL; it = it->Next)
        {
            if (object->Kind == HW_PROVIDER && it->HasProvider && hw_guid_equal(&it->Provider, &object->Key))
            {
                return TRUE;
            }
            if (it->Kind == HW_FILTER && object->Kind == HW_SUBLAYER && hw_guid_equal(&it->SubLayer, &object->Key))
            {
                return TRUE;
            }
            if (it->Kind == HW_FILTER && object->Kind == HW_CALLOUT && hw_is_callout_action(it->Action) &&
                hw_guid_equal(&it->CalloutKey, &object->Key))
            {
                return TRUE;
            }
        }
    }
    return FALSE;
}

/* Undoes a transaction (engine lock held): newest change first. */
static void hw_rollback(HW_ENGINE *engine, HW_NOTE **notes)
{
    while (engine->Undo != NULL)
    {
        HW_UNDO *undo = engine->Undo;
        HW_OBJECT *object = undo->Object;

        engine->Undo = undo->Next;
        if (undo->Added)
        {
            hw_unlink_object(object);
            if (object->Kind == HW_FILTER)
            {
                hw_note(notes, object, FWPS_CALLOUT_NOTIFY_DELETE_FILTER, TRUE);
            }
            else
            {
                hw_free_object(object);
            }
        }
        else
        {
            uint64_t order = object->Order;

            hw_link_object(object);
            object->Order = order;
            if (object->Kind == HW_FILTER)
            {
                object->Notified = FALSE;
                hw_note(notes, object, FWPS_CALLOUT_NOTIFY_ADD_FILTER, FALSE);
            }
        }
        free(undo);
    }
    engine->InTransaction = FALSE;
}

static void hw_commit(HW_ENGINE *engine)
{
    while (engine->Undo != NULL)
    {
        HW_UNDO *undo = engine->Undo;

        engine->Undo = undo->Next;
        if (undo->Added)
        {
            undo->Object->Uncommitted = FALSE;
        }
        else if (undo->Object->Kind != HW_FILTER)
        {
            hw_free_object(undo->Object); /* deleted filters are freed after their notification */
        }
        free(undo);
    }
    engine->InTransaction = FALSE;
}

/* -- sessions and transactions -------------------------------------------------------------------- */

NTSTATUS FwpmEngineOpen0(const wchar_t *serverName, UINT32 authnService, SEC_WINNT_AUTH_IDENTITY_W *authIdentity,
                         const FWPM_SESSION0 *session, HANDLE *engineHandle)
{
    NTSTATUS status;
    HW_ENGINE *engine = NULL;

    (void)authIdentity;
    if (hw_api_enter(HW_API_FwpmEngineOpen0, &status))
    {
        goto Done;
    }
    if (engineHandle == NULL)
    {
        hw_violation("FwpmEngineOpen0: engineHandle is NULL");
        status = STATUS_INVALID_PARAMETER;
        goto Done;
    }
    *engineHandle = NULL;
    if (serverName != NULL)
    {
        hw_violation("FwpmEngineOpen0: serverName must be NULL in kernel mode");
        status = STATUS_FWP_INVALID_PARAMETER;
        goto Done;
    }
    if (authnService != RPC_C_AUTHN_WINNT && authnService != RPC_C_AUTHN_DEFAULT_HOST)
    {
        hw_violation("FwpmEngineOpen0: authnService must be RPC_C_AUTHN_WINNT or RPC_C_AUTHN_DEFAULT (got %u)",
                     authnService);
        status = STATUS_FWP_INVALID_PARAMETER;
        goto Done;
    }
    engine = calloc(1, sizeof(*engine));
    if (engine == NULL)
    {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto Done;
    }
    engine->Dynamic = session != NULL && (session->flags & FWPM_SESSION_FLAG_DYNAMIC) != 0;
    pthread_rwlock_wrlock(&g_engine_lock);
    engine->Id = ++g_next_engine;
    engine->Next = g_engines;
    g_engines = engine;
    pthread_rwlock_unlock(&g_engine_lock);
    *engineHandle = (HANDLE)(uintptr_t)(HW_ENGINE_HANDLE_BASE + engine->Id);
    status = STATUS_SUCCESS;
Done:
    hw_log_api(HW_API_FwpmEngineOpen0, "FwpmEngineOpen0(%s session) -> 0x%08X handle %p",
               engine && engine->Dynamic ? "dynamic" : "static", (unsigned)status,
               engine ? (void *)(uintptr_t)(HW_ENGINE_HANDLE_BASE + engine->Id) : NULL);
    return status;
}

NTSTATUS FwpmEngineClose0(HANDLE engineHandle)
{
    HW_ENGINE *engine;
    HW_ENGINE **it;
    HW_NOTE *notes = NULL;
    NTSTATUS status = hw_begin(HW_API_FwpmEngineClose0, engineHandle, &engine);
    uint32_t removed = 0;
    int kind;

    if (!NT_SUCCESS(status))
    {
        hw_log_api(HW_API_FwpmEngineClose0, "FwpmEngineClose0(%p) -> 0x%08X", engineHandle, (unsigned)status);
        return status;
    }
    if (engine->InTransaction)
    {
        hw_log("FwpmEngineClose0: aborting the session's open transaction");
        hw_rollback(engine, &notes);
    }
    if (engine->Dynamic)
    {
        /* Filters first, then what they reference. */
        for (kind = HW_FILTER; kind >= HW_PROVIDER; kind--)
        {
            HW_OBJECT *object = g_objects[kind];

            while (object != NULL)
            {
                HW_OBJECT *next = object->Next;

                if (object->Dynamic && object->Session == engine->Id)
                {
                    hw_unlink_object(object);
                    removed++;
                    if (object->Kind == HW_FILTER)
                    {
                        hw_note(&notes, object, FWPS_CALLOUT_NOTIFY_DELETE_FILTER, TRUE);
                    }
                    else
                    {
                        hw_free_object(object);
                    }
                }
                object = next;
            }
        }
    }
    for (it = &g_engines; *it != NULL; it = &(*it)->Next)
    {
        if (*it == engine)
        {
            *it = engine->Next;
            break;
        }
    }
    pthread_rwlock_unlock(&g_engine_lock);
    hw_log_api(HW_API_FwpmEngineClose0, "FwpmEngineClose0(%p) -> 0x%08X (%u dynamic object(s) deleted)", engineHandle,
               (unsigned)status, removed);
    free(engine);
    hw_run_notes(notes);
    return status;
}

NTSTATUS FwpmTransactionBegin0(HANDLE engineHandle, UINT32 flags)
{
    HW_ENGINE *engine;
    NTSTATUS status = hw_begin(HW_API_FwpmTransactionBegin0, engineHandle, &engine);

    if (NT_SUCCESS(status))
    {
        if (engine->InTransaction)
        {
            status = STATUS_FWP_TXN_IN_PROGRESS;
        }
        else
        {
            engine->InTransaction = TRUE;
        }
        pthread_rwlock_unlock(&g_engine_lock);
    }
    hw_log_api(HW_API_FwpmTransactionBegin0, "FwpmTransactionBegin0(%p, 0x%x) -> 0x%08X", engineHandle, flags,
               (unsigned)status);
    return status;
}

NTSTATUS FwpmTransactionCommit0(HANDLE engineHandle)
{
    HW_ENGINE *engine;
    NTSTATUS status = hw_begin(HW_API_FwpmTransactionCommit0, engineHandle, &engine);
    HW_NOTE *notes = NULL;

    if (NT_SUCCESS(status))
    {
        if (!engine->InTransaction)
        {
            status = STATUS_FWP_NO_TXN_IN_PROGRESS;
        }
        else
        {
            /* Filters deleted in the transaction are freed after it (no notification left). */
            HW_UNDO *undo;

            for (undo = engine->Undo; undo != NULL; undo = undo->Next)
            {
                if (!undo->Added && undo->Object->Kind == HW_FILTER)
                {
                    HW_NOTE *note = calloc(1, sizeof(*note));

                    if (note == NULL)
                    {
                        abort();
                    }
                    note->Filter = undo->Object;
                    note->FreeAfter = TRUE;
                    note->Next = notes;
                    notes = note;
                }
            }
            hw_commit(engine);
        }
        pthread_rwlock_unlock(&g_engine_lock);
    }
    hw_log_api(HW_API_FwpmTransactionCommit0, "FwpmTransactionCommit0(%p) -> 0x%08X", engineHandle, (unsigned)status);
    hw_run_notes(notes);
    return status;
}

NTSTATUS FwpmTransactionAbort0(HANDLE engineHandle)
{
    HW_ENGINE *engine;
    NTSTATUS status = hw_begin(HW_API_FwpmTransactionAbort0, engineHandle, &engine);
    HW_NOTE *notes = NULL;

    if (NT_SUCCESS(status))
    {
        if (!engine->InTransaction)
        {
            status = STATUS_FWP_NO_TXN_IN_PROGRESS;
        }
        else
        {
            hw_rollback(engine, &notes);
        }
        pthread_rwlock_unlock(&g_engine_lock);
    }
    hw_log_api(HW_API_FwpmTransactionAbort0, "FwpmTransactionAbort0(%p) -> 0x%08X", engineHandle, (unsigned)status);
    hw_run_notes(notes);
    return status;
}

/* -- providers, sublayers, management callouts ------------------------------------------------------ */

NTSTATUS FwpmProviderAdd0(HANDLE engineHandle, const FWPM_PROVIDER0 *provider, PSECURITY_DESCRIPTOR sd)
{
    HW_ENGINE *engine;
    HW_OBJECT *object = NULL;
    char key[37] = "?";
    NTSTATUS status = hw_begin(HW_API_FwpmProviderAdd0, engineHandle, &engine);

    (void)sd;
    if (!NT_SUCCESS(status))
    {
        goto Done;
    }
    if (provider == NULL)
    {
        status = STATUS_INVALID_PARAMETER;
    }
    else if (hw_guid_text(&provider->providerKey, key) && hw_find(HW_PROVIDER, &provider->providerKey) != NULL)
    {
        status = STATUS_FWP_ALREADY_EXISTS;
    }
    else if ((object = calloc(1, sizeof(*object))) == NULL)
    {
        status = STATUS_INSUFFICIENT_RESOURCES;
    }
    else
    {
        object->Kind = HW_PROVIDER;
        object->Key = provider->providerKey;
        status = hw_add_object(engine, object);
        if (!NT_SUCCESS(status))
        {
            free(object);
        }
    }
    pthread_rwlock_unlock(&g_engine_lock);
Done:
    hw_log_api(HW_API_FwpmProviderAdd0, "FwpmProviderAdd0(%p, key %s) -> 0x%08X", engineHandle, key, (unsigned)status);
    return status;
}

NTSTATUS FwpmSubLayerAdd0(HANDLE engineHandle, const FWPM_SUBLAYER0 *subLayer, PSECURITY_DESCRIPTOR sd)
{
    HW_ENGINE *engine;
    HW_OBJECT *object;
    char key[37] = "?";
    NTSTATUS status = hw_begin(HW_API_FwpmSubLayerAdd0, engineHandle, &engine);

    (void)sd;
    if (!NT_SUCCESS(status))
    {
        goto Done;
    }
    if (subLayer == NULL)
    {
        status = STATUS_INVALID_PARAMETER;
    }
    else if (hw_guid_text(&subLayer->subLayerKey, key) &&
             (hw_find(HW_SUBLAYER, &subLayer->subLayerKey) != NULL ||
              hw_guid_equal(&subLayer->subLayerKey, &g_universal_sublayer)))
    {
        status = STATUS_FWP_ALREADY_EXISTS;
    }
    else if (subLayer->providerKey != NULL && hw_find(HW_PROVIDER, subLayer->providerKey) == NULL)
    {
        status = STATUS_FWP_PROVIDER_NOT_FOUND;
    }
    else if ((object = calloc(1, sizeof(*object))) == NULL)
    {
        status = STATUS_INSUFFICIENT_RESOURCES;
    }
    else
    {
        object->Kind = HW_SUBLAYER;
        object->Key = subLayer->subLayerKey;
        object->HasProvider = subLayer->providerKey != NULL;
        if (object->HasProvider)
        {
            object->Provider = *subLayer->providerKey;
        }
        object->SubLayerWeight = subLayer->weight;
        status = hw_add_object(engine, object);
        if (!NT_SUCCESS(status))
        {
            free(object);
        }
    }
    pthread_rwlock_unlock(&g_engine_lock);
Done:
    hw_log_api(HW_API_FwpmSubLayerAdd0, "FwpmSubLayerAdd0(%p, key %s, weight %u) -> 0x%08X", engineHandle, key,
               subLayer ? (unsigned)subLayer->weight : 0u, (unsigned)status);
    return status;
}

NTSTATUS FwpmCalloutAdd0(HANDLE engineHandle, const FWPM_CALLOUT0 *callout, PSECURITY_DESCRIPTOR sd, UINT32 *id)
{
    HW_ENGINE *engine;
    HW_OBJECT *object;
    const HOSTWDK_CATALOG_LAYER *layer = NULL;
    char key[37] = "?";
    char layerText[37] = "?";
    NTSTATUS status = hw_begin(HW_API_FwpmCalloutAdd0, engineHandle, &engine);

    (void)sd;
    if (!NT_SUCCESS(status))
    {
        goto Done;
    }
    if (callout == NULL)
    {
        status = STATUS_INVALID_PARAMETER;
    }
    else if (hw_guid_text(&callout->calloutKey, key) && hw_guid_text(&callout->applicableLayer, layerText) &&
             hw_find(HW_CALLOUT, &callout->calloutKey) != NULL)
    {
        status = STATUS_FWP_ALREADY_EXISTS;
    }
    else if ((layer = hw_layer_by_key(&callout->applicableLayer)) == NULL)
    {
        status = STATUS_FWP_LAYER_NOT_FOUND;
    }
    else if (callout->providerKey != NULL && hw_find(HW_PROVIDER, callout->providerKey) == NULL)
    {
        status = STATUS_FWP_PROVIDER_NOT_FOUND;
    }
    else if ((object = calloc(1, sizeof(*object))) == NULL)
    {
        status = STATUS_INSUFFICIENT_RESOURCES;
    }
    else
    {
        object->Kind = HW_CALLOUT;
        object->Key = callout->calloutKey;
        object->HasProvider = callout->providerKey != NULL;
        if (object->HasProvider)
        {
            object->Provider = *callout->providerKey;
        }
        object->Layer = layer;
        object->CalloutId = hw_callout_id_for(&callout->calloutKey);
        object->CalloutFlags = callout->flags;
        status = hw_add_object(engine, object);
        if (!NT_SUCCESS(status))
        {
            free(object);
        }
        else if (id != NULL)
        {
            *id = object->CalloutId;
        }
    }
    pthread_rwlock_unlock(&g_engine_lock);
Done:
    hw_log_api(HW_API_FwpmCalloutAdd0, "FwpmCalloutAdd0(%p, key %s, layer %s) -> 0x%08X", engineHandle, key,
               layer ? layer->FwpmName : layerText, (unsigned)status);
    return status;
}

/* -- filters ---------------------------------------------------------------------------------------- */

static BOOLEAN hw_is_numeric(FWP_DATA_TYPE type)
{
    return type >= FWP_UINT8 && type <= FWP_INT64;
}

static BOOLEAN hw_is_signed(FWP_DATA_TYPE type)
{
    return type >= FWP_INT8 && type <= FWP_INT64;
}

/* Deep copy of one value of a condition (a FWP_VALUE0 has the same leading members). */
static NTSTATUS hw_copy_value(FWP_CONDITION_VALUE0 *target, const FWP_CONDITION_VALUE0 *source)
{
    size_t size = 0;
    const void *from = NULL;

    *target = *source;
    switch (source->type)
    {
    case FWP_UINT64:
    case FWP_INT64:
    case FWP_DOUBLE:
        size = 8;
        from = source->uint64;
        break;
    case FWP_BYTE_ARRAY16_TYPE:
        size = sizeof(FWP_BYTE_ARRAY16);
        from = source->byteArray16;
        break;
    case FWP_BYTE_ARRAY6_TYPE:
        size = sizeof(FWP_BYTE_ARRAY6);
        from = source->byteArray6;
        break;
    case FWP_V4_ADDR_MASK:
        size = sizeof(FWP_V4_ADDR_AND_MASK);
        from = source->v4AddrMask;
        break;
    case FWP_V6_ADDR_MASK:
        size = sizeof(FWP_V6_ADDR_AND_MASK);
        from = source->v6AddrMask;
        break;
    case FWP_SID:
        if (source->sid != NULL)
        {
            size = 8u + 4u * (size_t)source->sid->SubAuthorityCount;
        }
        from = source->sid;
        break;
    case FWP_UNICODE_STRING_TYPE:
        if (source->unicodeString != NULL)
        {
            while (source->unicodeString[size / 2] != 0)
            {
                size += 2;
            }
            size += 2;
        }
        from = source->unicodeString;
        break;
    case FWP_BYTE_BLOB_TYPE:
    case FWP_SECURITY_DESCRIPTOR_TYPE:
    case FWP_TOKEN_ACCESS_INFORMATION_TYPE:
    {
        FWP_BYTE_BLOB *blob;

        if (source->byteBlob == NULL || (source->byteBlob->size > 0 && source->byteBlob->data == NULL))
        {
            target->type = FWP_EMPTY;
            return STATUS_INVALID_PARAMETER;
        }
        blob = calloc(1, sizeof(*blob));
        if (blob == NULL)
        {
            target->type = FWP_EMPTY;
            return STATUS_INSUFFICIENT_RESOURCES;
        }
        blob->size = source->byteBlob->size;
        blob->data = malloc(blob->size ? blob->size : 1);
        if (blob->data == NULL)
        {
            free(blob);
            target->type = FWP_EMPTY;
            return STATUS_INSUFFICIENT_RESOURCES;
        }
        if (blob->size > 0)
        {
            memcpy(blob->data, source->byteBlob->data, blob->size);
        }
        target->byteBlob = blob;
        return STATUS_SUCCESS;
    }
    case FWP_RANGE_TYPE:
    {
        FWP_RANGE0 *range;
        NTSTATUS status;

        if (source->rangeValue == NULL)
        {
            target->type = FWP_EMPTY;
            return STATUS_INVALID_PARAMETER;
        }
        range = calloc(1, sizeof(*range));
        if (range == NULL)
        {
            target->type = FWP_EMPTY;
            return STATUS_INSUFFICIENT_RESOURCES;
        }
        target->rangeValue = range;
        status = hw_copy_value((FWP_CONDITION_VALUE0 *)(void *)&range->valueLow,
                               (const FWP_CONDITION_VALUE0 *)(const void *)&source->rangeValue->valueLow);
        if (NT_SUCCESS(status))
        {
            status = hw_copy_value((FWP_CONDITION_VALUE0 *)(void *)&range->valueHigh,
                                   (const FWP_CONDITION_VALUE0 *)(const void *)&source->rangeValue->valueHigh);
        }
        return status;
    }
    default:
        return STATUS_SUCCESS; /* scalars live in the union itself */
    }
    if (from == NULL)
    {
        target->type = FWP_EMPTY;
        return STATUS_INVALID_PARAMETER;
    }
    target->uint64 = malloc(size);
    if (target->uint64 == NULL)
    {
        target->type = FWP_EMPTY;
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    memcpy(target->uint64, from, size);
    return STATUS_SUCCESS;
}

/* FWP_MATCH_TYPE's documented rule: "sortable data types consist of all integer types,
 * FWP_BYTE_ARRAY16_TYPE, FWP_BYTE_BLOB_TYPE, and FWP_UNICODE_STRING_TYPE". */
static BOOLEAN hw_is_sortable(FWP_DATA_TYPE type)
{
    return hw_is_numeric(type) || type == FWP_BYTE_ARRAY16_TYPE || type == FWP_BYTE_BLOB_TYPE ||
           type == FWP_UNICODE_STRING_TYPE;
}

/* Type rules for one condition against its field, as FWP_MATCH_TYPE documents them:
 * FWP_MATCH_EQUAL takes every type; FWP_MATCH_NOT_EQUAL, the ordered matches and FWP_MATCH_RANGE
 * only sortable types (an address mask is not one); the flag matches only unsigned integers. */
static NTSTATUS hw_check_condition(const FWPM_FILTER_CONDITION0 *condition, FWP_DATA_TYPE field)
{
    FWP_MATCH_TYPE match = condition->matchType;
    FWP_DATA_TYPE type = condition->conditionValue.type;
    BOOLEAN ordered = match == FWP_MATCH_GREATER || match == FWP_MATCH_LESS ||
                      match == FWP_MATCH_GREATER_OR_EQUAL || match == FWP_MATCH_LESS_OR_EQUAL;
    BOOLEAN flags = match == FWP_MATCH_FLAGS_ALL_SET || match == FWP_MATCH_FLAGS_ANY_SET ||
                    match == FWP_MATCH_FLAGS_NONE_SET;

    if (match >= FWP_MATCH_TYPE_MAX)
    {
        return STATUS_FWP_INVALID_PARAMETER;
    }
    if (match == FWP_MATCH_RANGE || type == FWP_RANGE_TYPE)
    {
        const FWP_RANGE0 *range = condition->conditionValue.rangeValue;

        if (match != FWP_MATCH_RANGE || type != FWP_RANGE_TYPE)
        {
            return STATUS_FWP_MATCH_TYPE_MISMATCH;
        }
        if (range == NULL)
        {
            return STATUS_INVALID_PARAMETER;
        }
        if (range->valueLow.type != field || range->valueHigh.type != field ||
            !(hw_is_numeric(field) || field == FWP_BYTE_ARRAY16_TYPE))
        {
            return STATUS_FWP_TYPE_MISMATCH;
        }
        return STATUS_SUCCESS;
    }
    if (type == FWP_V4_ADDR_MASK || type == FWP_V6_ADDR_MASK)
    {
        if ((type == FWP_V4_ADDR_MASK && field != FWP_UINT32) ||
            (type == FWP_V6_ADDR_MASK && field != FWP_BYTE_ARRAY16_TYPE))
        {
            return STATUS_FWP_TYPE_MISMATCH;
        }
        if (match != FWP_MATCH_EQUAL)
        {
            return STATUS_FWP_MATCH_TYPE_MISMATCH; /* a mask is not sortable */
        }
        if (type == FWP_V6_ADDR_MASK && condition->conditionValue.v6AddrMask != NULL &&
            condition->conditionValue.v6AddrMask->prefixLength > 128)
        {
            return STATUS_FWP_INVALID_PARAMETER;
        }
        return STATUS_SUCCESS;
    }
    if (type != field)
    {
        return STATUS_FWP_TYPE_MISMATCH;
    }
    if (match == FWP_MATCH_EQUAL)
    {
        return STATUS_SUCCESS;
    }
    if (flags)
    {
        return (hw_is_numeric(type) && !hw_is_signed(type)) ? STATUS_SUCCESS : STATUS_FWP_MATCH_TYPE_MISMATCH;
    }
    if (match == FWP_MATCH_NOT_EQUAL)
    {
        return hw_is_sortable(type) ? STATUS_SUCCESS : STATUS_FWP_MATCH_TYPE_MISMATCH;
    }
    if (ordered)
    {
        /* Sortable types only; orderings of blobs and strings are not modelled (the generator emits none). */
        return (hw_is_numeric(type) || type == FWP_BYTE_ARRAY16_TYPE) ? STATUS_SUCCESS : STATUS_FWP_MATCH_TYPE_MISMATCH;
    }
    /* FWP_MATCH_EQUAL_CASE_INSENSITIVE, FWP_MATCH_PREFIX, FWP_MATCH_NOT_PREFIX: not modelled. */
    return STATUS_FWP_MATCH_TYPE_MISMATCH;
}

static NTSTATUS hw_build_filter(const FWPM_FILTER0 *filter, const HOSTWDK_CATALOG_LAYER *layer, HW_OBJECT *object)
{
    UINT32 i;

    object->ConditionCount = filter->numFilterConditions;
    if (filter->numFilterConditions == 0)
    {
        return STATUS_SUCCESS;
    }
    if (filter->filterCondition == NULL)
    {
        return STATUS_INVALID_PARAMETER;
    }
    object->Conditions = calloc(filter->numFilterConditions, sizeof(HW_CONDITION));
    object->RuntimeConditions = calloc(filter->numFilterConditions, sizeof(HW_FWPS_CONDITION));
    if (object->Conditions == NULL || object->RuntimeConditions == NULL)
    {
        object->ConditionCount = 0;
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    for (i = 0; i < filter->numFilterConditions; i++)
    {
        const FWPM_FILTER_CONDITION0 *source = &filter->filterCondition[i];
        const HOSTWDK_CATALOG_FIELD *field = hw_field_by_key(layer, &source->fieldKey);
        HW_CONDITION *target = &object->Conditions[i];
        NTSTATUS status;
        char key[37];

        if (field == NULL)
        {
            hw_log("FwpmFilterAdd0: condition %u: field %s is not a condition of %s", i,
                   hw_guid_text(&source->fieldKey, key), layer->FwpmName);
            return STATUS_FWP_CONDITION_NOT_FOUND;
        }
        status = hw_check_condition(source, field->DataType);
        if (!NT_SUCCESS(status))
        {
            hw_log("FwpmFilterAdd0: condition %u on %s: match type %d with a value of type %d does not fit a field "
                   "of type %d",
                   i, field->ConditionName, (int)source->matchType, (int)source->conditionValue.type,
                   (int)field->DataType);
            return status;
        }
        target->Field = field->Index;
        target->FieldType = field->DataType;
        target->Value.fieldKey = source->fieldKey;
        target->Value.matchType = source->matchType;
        status = hw_copy_value(&target->Value.conditionValue, &source->conditionValue);
        if (!NT_SUCCESS(status))
        {
            return status;
        }
        object->RuntimeConditions[i].fieldId = field->Index;
        object->RuntimeConditions[i].matchType = source->matchType;
        object->RuntimeConditions[i].conditionValue = target->Value.conditionValue;
    }
    return STATUS_SUCCESS;
}

NTSTATUS FwpmFilterAdd0(HANDLE engineHandle, const FWPM_FILTER0 *filter, PSECURITY_DESCRIPTOR sd, UINT64 *id)
{
    HW_ENGINE *engine;
    HW_OBJECT *object = NULL;
    HW_OBJECT *sublayer = NULL;
    HW_OBJECT *callout = NULL;
    const HOSTWDK_CATALOG_LAYER *layer = NULL;
    HW_NOTE *notes = NULL;
    char key[37] = "?";
    char calloutText[37] = "-";
    UINT64 filterId = 0;
    NTSTATUS status = hw_begin(HW_API_FwpmFilterAdd0, engineHandle, &engine);

    (void)sd;
    if (!NT_SUCCESS(status))
    {
        goto Done;
    }
    if (filter == NULL)
    {
        status = STATUS_INVALID_PARAMETER;
        goto Unlock;
    }
    object = calloc(1, sizeof(*object));
    if (object == NULL)
    {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto Unlock;
    }
    object->Kind = HW_FILTER;
    object->Key = filter->filterKey;
    if (hw_guid_is_null(&object->Key))
    {
        /* The engine assigns a key when the caller gives none. */
        object->Key.Data1 = 0x484f5354u;
        object->Key.Data2 = (USHORT)(g_next_filter_id >> 16);
        object->Key.Data3 = (USHORT)g_next_filter_id;
        object->Key.Data4[7] = (UCHAR)g_next_order;
    }
    hw_guid_text(&object->Key, key);
    if (hw_is_callout_action(filter->action.type))
    {
        hw_guid_text(&filter->action.calloutKey, calloutText);
    }
    if (hw_find(HW_FILTER, &object->Key) != NULL)
    {
        status = STATUS_FWP_ALREADY_EXISTS;
        goto Unlock;
    }
    layer = hw_layer_by_key(&filter->layerKey);
    if (layer == NULL)
    {
        status = STATUS_FWP_LAYER_NOT_FOUND;
        goto Unlock;
    }
    object->Layer = layer;
    object->SubLayer = hw_guid_is_null(&filter->subLayerKey) ? g_universal_sublayer : filter->subLayerKey;
    if (!hw_guid_equal(&object->SubLayer, &g_universal_sublayer))
    {
        sublayer = hw_find(HW_SUBLAYER, &object->SubLayer);
        if (sublayer == NULL)
        {
            status = STATUS_FWP_SUBLAYER_NOT_FOUND;
            goto Unlock;
        }
        object->SubLayerWeight = sublayer->SubLayerWeight;
    }
    if (filter->providerKey != NULL)
    {
        if (hw_find(HW_PROVIDER, filter->providerKey) == NULL)
        {
            status = STATUS_FWP_PROVIDER_NOT_FOUND;
            goto Unlock;
        }
        object->HasProvider = TRUE;
        object->Provider = *filter->providerKey;
    }
    switch (filter->action.type)
    {
    case FWP_ACTION_BLOCK:
    case FWP_ACTION_PERMIT:
        break;
    case FWP_ACTION_CALLOUT_TERMINATING:
    case FWP_ACTION_CALLOUT_INSPECTION:
    case FWP_ACTION_CALLOUT_UNKNOWN:
        callout = hw_find(HW_CALLOUT, &filter->action.calloutKey);
        if (callout == NULL)
        {
            status = STATUS_FWP_CALLOUT_NOT_FOUND;
            goto Unlock;
        }
        if (callout->Layer != layer)
        {
            hw_log("FwpmFilterAdd0: callout %s applies to %s, the filter is at %s", calloutText,
                   callout->Layer->FwpmName, layer->FwpmName);
            status = STATUS_FWP_INCOMPATIBLE_LAYER;
            goto Unlock;
        }
        object->CalloutKey = filter->action.calloutKey;
        object->Runtime.action.calloutId = callout->CalloutId;
        break;
    default:
        status = STATUS_FWP_INVALID_PARAMETER;
        goto Unlock;
    }
    object->Action = filter->action.type;
    switch (filter->weight.type)
    {
    case FWP_EMPTY:
        object->Weight = 0;
        break;
    case FWP_UINT8:
        if (filter->weight.uint8 > 15)
        {
            status = STATUS_FWP_INVALID_PARAMETER;
            goto Unlock;
        }
        object->Weight = (UINT64)filter->weight.uint8 << 60;
        break;
    case FWP_UINT64:
        if (filter->weight.uint64 == NULL)
        {
            status = STATUS_INVALID_PARAMETER;
            goto Unlock;
        }
        object->Weight = *filter->weight.uint64;
        break;
    default:
        status = STATUS_FWP_TYPE_MISMATCH;
        goto Unlock;
    }
    status = hw_build_filter(filter, layer, object);
    if (!NT_SUCCESS(status))
    {
        goto Unlock;
    }
    object->FilterId = ++g_next_filter_id;
    object->Hidden = TRUE;
    object->Runtime.filterId = object->FilterId;
    object->Runtime.weight.type = FWP_UINT64;
    object->Runtime.weight.uint64 = &object->Weight;
    object->Runtime.subLayerWeight = object->SubLayerWeight;
    object->Runtime.numFilterConditions = object->ConditionCount;
    object->Runtime.filterCondition = object->RuntimeConditions;
    object->Runtime.action.type = object->Action;
    object->Runtime.context = filter->rawContext;
    status = hw_add_object(engine, object);
    if (NT_SUCCESS(status))
    {
        filterId = object->FilterId;
        hw_note(&notes, object, FWPS_CALLOUT_NOTIFY_ADD_FILTER, FALSE);
        object = NULL; /* now the engine's */
    }
Unlock:
    pthread_rwlock_unlock(&g_engine_lock);
    hw_free_object(object);
    if (notes != NULL)
    {
        HW_OBJECT *added = notes->Filter;
        void *notify = notes->Notify;
        int version = notes->Version;
        NTSTATUS notified = STATUS_SUCCESS;
        HW_OBJECT *it;

        free(notes);
        notes = NULL;
        if (notify != NULL)
        {
            notified = hw_call_notify(notify, version, FWPS_CALLOUT_NOTIFY_ADD_FILTER, added);
            hw_log("notifyFn(FWPS_CALLOUT_NOTIFY_ADD_FILTER, filter %s) -> 0x%08X", key, (unsigned)notified);
        }
        pthread_rwlock_wrlock(&g_engine_lock);
        for (it = g_objects[HW_FILTER]; it != NULL && it != added; it = it->Next)
        {
        }
        if (it == NULL)
        {
            /* deleted meanwhile (its session closed): nothing left to do */
        }
        else if (NT_SUCCESS(notified))
        {
            added->Notified = notify != NULL;
            added->Hidden = FALSE;
        }
        else
        {
            /* A failing ADD notification vetoes the filter. */
            HW_UNDO **undo;

            for (undo = &engine->Undo; *undo != NULL; undo = &(*undo)->Next)
            {
                if ((*undo)->Object == added)
                {
                    HW_UNDO *gone = *undo;

                    *undo = gone->Next;
                    free(gone);
                    break;
                }
            }
            hw_unlink_object(added);
            hw_free_object(added);
            status = notified;
            filterId = 0;
        }
        pthread_rwlock_unlock(&g_engine_lock);
    }
    if (id != NULL && NT_SUCCESS(status))
    {
        *id = filterId;
    }
Done:
    hw_log_api(HW_API_FwpmFilterAdd0, "FwpmFilterAdd0(%p, key %s, layer %s, action 0x%04X, callout %s, conditions %u) "
               "-> 0x%08X id %llu",
               engineHandle, key, layer ? layer->FwpmName : "?", filter ? (unsigned)filter->action.type : 0u,
               calloutText, filter ? (unsigned)filter->numFilterConditions : 0u, (unsigned)status,
               (unsigned long long)filterId);
    return status;
}

/* -- deletions ---------------------------------------------------------------------------------------- */

static NTSTATUS hw_delete(HW_API api, HANDLE engineHandle, HW_KIND kind, const GUID *key, UINT64 id)
{
    HW_ENGINE *engine;
    HW_OBJECT *object = NULL;
    HW_NOTE *notes = NULL;
    char text[37] = "?";
    NTSTATUS status = hw_begin(api, engineHandle, &engine);

    if (key != NULL)
    {
        hw_guid_text(key, text);
    }
    if (!NT_SUCCESS(status))
    {
        goto Done;
    }
    if (key != NULL)
    {
        object = hw_find(kind, key);
    }
    else if (kind == HW_FILTER)
    {
        object = hw_find_filter_by_id(id);
    }
    else
    {
        for (object = g_objects[kind]; object != NULL && object->CalloutId != (UINT32)id; object = object->Next)
        {
        }
    }
    if (object == NULL)
    {
        status = kind == HW_FILTER     ? STATUS_FWP_FILTER_NOT_FOUND
                 : kind == HW_CALLOUT  ? STATUS_FWP_CALLOUT_NOT_FOUND
                 : kind == HW_SUBLAYER ? STATUS_FWP_SUBLAYER_NOT_FOUND
                                       : STATUS_FWP_PROVIDER_NOT_FOUND;
    }
    else if (kind != HW_FILTER && hw_in_use(object))
    {
        status = STATUS_FWP_IN_USE;
    }
    else
    {
        hw_guid_text(&object->Key, text);
        status = hw_delete_object(engine, object, &notes);
    }
    pthread_rwlock_unlock(&g_engine_lock);
Done:
    hw_log_api(api, "%s(%p, %s %s%s%llu) -> 0x%08X", hw_api_name(api), engineHandle, g_kind_names[kind], text,
               key ? "" : " id ", key ? 0ull : (unsigned long long)id, (unsigned)status);
    hw_run_notes(notes);
    return status;
}

NTSTATUS FwpmFilterDeleteById0(HANDLE engineHandle, UINT64 id)
{
    return hw_delete(HW_API_FwpmFilterDeleteById0, engineHandle, HW_FILTER, NULL, id);
}

NTSTATUS FwpmFilterDeleteByKey0(HANDLE engineHandle, const GUID *key)
{
    if (key == NULL)
    {
        return STATUS_INVALID_PARAMETER;
    }
    return hw_delete(HW_API_FwpmFilterDeleteByKey0, engineHandle, HW_FILTER, key, 0);
}

NTSTATUS FwpmCalloutDeleteById0(HANDLE engineHandle, const UINT32 id)
{
    return hw_delete(HW_API_FwpmCalloutDeleteById0, engineHandle, HW_CALLOUT, NULL, id);
}

NTSTATUS FwpmCalloutDeleteByKey0(HANDLE engineHandle, const GUID *key)
{
    if (key == NULL)
    {
        return STATUS_INVALID_PARAMETER;
    }
    return hw_delete(HW_API_FwpmCalloutDeleteByKey0, engineHandle, HW_CALLOUT, key, 0);
}

NTSTATUS FwpmSubLayerDeleteByKey0(HANDLE engineHandle, const GUID *key)
{
    if (key == NULL)
    {
        return STATUS_INVALID_PARAMETER;
    }
    return hw_delete(HW_API_FwpmSubLayerDeleteByKey0, engineHandle, HW_SUBLAYER, key, 0);
}

NTSTATUS FwpmProviderDeleteByKey0(HANDLE engineHandle, const GUID *key)
{
    if (key == NULL)
    {
        return STATUS_INVALID_PARAMETER;
    }
    return hw_delete(HW_API_FwpmProviderDeleteByKey0, engineHandle, HW_PROVIDER, key, 0);
}

/* -- flow contexts ---------------------------------------------------------------------------------------
 * FwpsFlowAssociateContext0 keeps one context per (flow, layer, callout).  A classify whose metadata
 * carries FWPS_METADATA_FIELD_FLOW_HANDLE hands that callout's context for that flow and layer to its
 * classifyFn as flowContext.  The flow's end (HostWdk_FlowEnd) or FwpsFlowRemoveContext0 hands it to
 * the callout's flowDeleteFn exactly once, after the last classifyFn using it has returned
 * (FwpsFlowRemoveContext0 returns STATUS_PENDING meanwhile, as WFP documents).  g_flow_lock comes
 * after g_engine_lock; no flow lock is held while driver code runs, and classifies take it only for
 * reading, so they stay unordered for ThreadSanitizer. */

typedef struct _HW_FLOW_CONTEXT
{
    UINT64 Flow;
    UINT16 LayerId;
    UINT32 CalloutId;
    UINT64 Context;
    FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0 FlowDelete;
    uint32_t Active;  /* atomic: classifyFn calls using the context now */
    uint32_t Removed; /* atomic: unlinked while in use; the last classifyFn to return calls flowDeleteFn */
    struct _HW_FLOW_CONTEXT *Next;
} HW_FLOW_CONTEXT;

#define HW_FLOW_BUCKET_BITS 10u
static pthread_rwlock_t g_flow_lock = PTHREAD_RWLOCK_INITIALIZER;
static HW_FLOW_CONTEXT *g_flow_contexts[1u << HW_FLOW_BUCKET_BITS];
static uint32_t g_flow_context_count;      /* atomic: associated, or removed and waiting for classifyFn */
static __thread uint32_t t_engine_readers; /* this thread holds g_engine_lock for reading (classify) */

static uint32_t hw_flow_bucket(UINT64 flow)
{
    return (uint32_t)((flow * 0x9E3779B97F4A7C15ull) >> (64u - HW_FLOW_BUCKET_BITS));
}

/* g_flow_lock held: the link to the context of (flow, layer, callout), or NULL. */
static HW_FLOW_CONTEXT **hw_flow_find(UINT64 flow, UINT16 layer, UINT32 callout)
{
    HW_FLOW_CONTEXT **it;

    for (it = &g_flow_contexts[hw_flow_bucket(flow)]; *it != NULL; it = &(*it)->Next)
    {
        if ((*it)->Flow == flow && (*it)->LayerId == layer && (*it)->CalloutId == callout)
        {
            return it;
        }
    }
    return NULL;
}

/* g_flow_lock held for writing: unlinks *it.  Returns the context when its flowDeleteFn is due now,
 * NULL when a classifyFn still uses it (the last one to return calls flowDeleteFn). */
static HW_FLOW_CONTEXT *hw_flow_unlink(HW_FLOW_CONTEXT **it)
{
    HW_FLOW_CONTEXT *context = *it;

    *it = context->Next;
    context->Next = NULL;
    if (__atomic_load_n(&context->Active, __ATOMIC_ACQUIRE) > 0)
    {
        __atomic_store_n(&context->Removed, 1u, __ATOMIC_RELEASE);
        return NULL;
    }
    return context;
}

/* Calls flowDeleteFn at DISPATCH_LEVEL (the highest IRQL it may be called at) and forgets the context. */
static void hw_flow_delete_notify(HW_FLOW_CONTEXT *context, const char *why)
{
    HW_THREAD *thread = hw_thread();
    KIRQL irql = thread->Irql;
    uint32_t held = thread->HeldCount;
    const char *previous;

    hw_log("flowDeleteFn(layer %u, callout %u, context 0x%llx) of flow %llu: %s", (unsigned)context->LayerId,
           (unsigned)context->CalloutId, (unsigned long long)context->Context, (unsigned long long)context->Flow, why);
    previous = hw_enter_driver("flowDeleteFn", DISPATCH_LEVEL);
    context->FlowDelete(context->LayerId, context->CalloutId, context->Context);
    if (thread->Irql != DISPATCH_LEVEL)
    {
        hw_violation("flowDeleteFn returned at IRQL %u; it was called at DISPATCH_LEVEL (2)", (unsigned)thread->Irql);
    }
    if (thread->HeldCount != held)
    {
        hw_violation("flowDeleteFn returned holding %u spin lock(s) it did not hold when called; it held %u",
                     (unsigned)thread->HeldCount, (unsigned)held);
    }
    thread->Context = previous;
    thread->Irql = irql;
    free(context);
    __atomic_sub_fetch(&g_flow_context_count, 1u, __ATOMIC_RELAXED);
}

/* Classify: the context of (flow, layer, callout), held until hw_flow_release; NULL if none. */
static HW_FLOW_CONTEXT *hw_flow_hold(UINT64 flow, UINT16 layer, UINT32 callout)
{
    HW_FLOW_CONTEXT **it;
    HW_FLOW_CONTEXT *context = NULL;

    pthread_rwlock_rdlock(&g_flow_lock);
    it = hw_flow_find(flow, layer, callout);
    if (it != NULL)
    {
        context = *it;
        __atomic_add_fetch(&context->Active, 1u, __ATOMIC_ACQ_REL);
    }
    pthread_rwlock_unlock(&g_flow_lock);
    return context;
}

static void hw_flow_release(HW_FLOW_CONTEXT *context)
{
    uint32_t left;
    uint32_t removed;

    pthread_rwlock_rdlock(&g_flow_lock);
    left = __atomic_sub_fetch(&context->Active, 1u, __ATOMIC_ACQ_REL);
    removed = __atomic_load_n(&context->Removed, __ATOMIC_ACQUIRE);
    pthread_rwlock_unlock(&g_flow_lock);
    if (left == 0 && removed)
    {
        hw_flow_delete_notify(context, "removed while classifyFn used it; deleted when it returned");
    }
}

/* Flow contexts associated with a callout (g_engine_lock held). */
static uint32_t hw_flow_contexts_of(UINT32 callout)
{
    uint32_t count = 0;
    uint32_t bucket;
    const HW_FLOW_CONTEXT *context;

    pthread_rwlock_rdlock(&g_flow_lock);
    for (bucket = 0; bucket < RTL_NUMBER_OF(g_flow_contexts); bucket++)
    {
        for (context = g_flow_contexts[bucket]; context != NULL; context = context->Next)
        {
            count += context->CalloutId == callout ? 1u : 0u;
        }
    }
    pthread_rwlock_unlock(&g_flow_lock);
    return count;
}

static HW_RCALLOUT *hw_rcallout_by_id(UINT32 id)
{
    HW_RCALLOUT *it;

    for (it = g_rcallouts; it != NULL && it->Id != id; it = it->Next)
    {
    }
    return it;
}

static const HW_OBJECT *hw_callout_object_by_id(UINT32 id)
{
    const HW_OBJECT *it;

    for (it = g_objects[HW_CALLOUT]; it != NULL && (it->CalloutId != id || it->Uncommitted); it = it->Next)
    {
    }
    return it;
}

NTSTATUS FwpsFlowAssociateContext0(UINT64 flowId, UINT16 layerId, UINT32 calloutId, UINT64 flowContext)
{
    NTSTATUS status;
    const HW_RCALLOUT *callout;
    const HW_OBJECT *object;
    HW_FLOW_CONTEXT *context;
    const char *why = "";
    BOOLEAN lock = t_engine_readers == 0; /* classifyFn runs with the engine lock held already */

    if (hw_api_enter(HW_API_FwpsFlowAssociateContext0, &status))
    {
        goto Done;
    }
    if (lock)
    {
        pthread_rwlock_rdlock(&g_engine_lock);
    }
    callout = hw_rcallout_by_id(calloutId);
    object = hw_callout_object_by_id(calloutId);
    status = STATUS_INVALID_PARAMETER;
    if (flowContext == 0)
    {
        why = ": flowContext is 0";
    }
    else if (flowId == 0)
    {
        why = ": flowId is 0 (the packet carried no FWPS_METADATA_FIELD_FLOW_HANDLE)";
    }
    else if (callout == NULL)
    {
        why = ": no callout with this id is registered";
    }
    else if (callout->FlowDelete == NULL)
    {
        why = ": the callout registered no flowDeleteFn";
    }
    else if (object == NULL || object->Layer->LayerId != layerId)
    {
        why = ": the callout is not in the filter engine at this layer (FwpmCalloutAdd0 applicableLayer)";
        if (object != NULL)
        {
            /* WFP refuses it; a driver that passes another layer's id means to read the context there. */
            hw_violation("FwpsFlowAssociateContext0(flow %llu, layer %u, callout %u): the callout was added at "
                         "layer %u (%s), not %u: no classifyFn would receive this flowContext",
                         (unsigned long long)flowId, (unsigned)layerId, (unsigned)calloutId,
                         (unsigned)object->Layer->LayerId, object->Layer->FwpsName, (unsigned)layerId);
        }
    }
    else
    {
        pthread_rwlock_wrlock(&g_flow_lock);
        if (hw_flow_find(flowId, layerId, calloutId) != NULL)
        {
            status = STATUS_OBJECT_NAME_EXISTS;
            why = ": the callout already has a context on this flow at this layer";
        }
        else if ((context = calloc(1, sizeof(*context))) == NULL)
        {
            status = STATUS_INSUFFICIENT_RESOURCES;
        }
        else
        {
            uint32_t bucket = hw_flow_bucket(flowId);

            context->Flow = flowId;
            context->LayerId = layerId;
            context->CalloutId = calloutId;
            context->Context = flowContext;
            context->FlowDelete = (FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0)callout->FlowDelete;
            context->Next = g_flow_contexts[bucket];
            g_flow_contexts[bucket] = context;
            __atomic_add_fetch(&g_flow_context_count, 1u, __ATOMIC_RELAXED);
            status = STATUS_SUCCESS;
        }
        pthread_rwlock_unlock(&g_flow_lock);
    }
    if (lock)
    {
        pthread_rwlock_unlock(&g_engine_lock);
    }
Done:
    hw_log_api(HW_API_FwpsFlowAssociateContext0, "FwpsFlowAssociateContext0(flow %llu, layer %u, callout %u, "
               "context 0x%llx) -> 0x%08X%s", (unsigned long long)flowId, (unsigned)layerId, (unsigned)calloutId,
               (unsigned long long)flowContext, (unsigned)status, why);
    return status;
}

NTSTATUS FwpsFlowRemoveContext0(UINT64 flowId, UINT16 layerId, UINT32 calloutId)
{
    NTSTATUS status;
    HW_FLOW_CONTEXT **it;
    HW_FLOW_CONTEXT *due = NULL;

    if (hw_api_enter(HW_API_FwpsFlowRemoveContext0, &status))
    {
        goto Done;
    }
    pthread_rwlock_wrlock(&g_flow_lock);
    it = hw_flow_find(flowId, layerId, calloutId);
    if (it == NULL)
    {
        status = STATUS_UNSUCCESSFUL; /* no context on this flow for this layer and callout */
    }
    else
    {
        due = hw_flow_unlink(it);
        status = due != NULL ? STATUS_SUCCESS : STATUS_PENDING;
    }
    pthread_rwlock_unlock(&g_flow_lock);
Done:
    hw_log_api(HW_API_FwpsFlowRemoveContext0, "FwpsFlowRemoveContext0(flow %llu, layer %u, callout %u) -> 0x%08X",
               (unsigned long long)flowId, (unsigned)layerId, (unsigned)calloutId, (unsigned)status);
    if (due != NULL)
    {
        hw_flow_delete_notify(due, "FwpsFlowRemoveContext0");
    }
    return status;
}

uint32_t HostWdk_FlowEnd(uint64_t flow)
{
    HW_FLOW_CONTEXT **it;
    HW_FLOW_CONTEXT *context;
    HW_FLOW_CONTEXT *due = NULL;
    uint32_t count = 0;

    pthread_rwlock_wrlock(&g_flow_lock);
    for (it = &g_flow_contexts[hw_flow_bucket(flow)]; *it != NULL;)
    {
        if ((*it)->Flow != flow)
        {
            it = &(*it)->Next;
            continue;
        }
        count++;
        context = hw_flow_unlink(it);
        if (context != NULL)
        {
            context->Next = due;
            due = context;
        }
    }
    pthread_rwlock_unlock(&g_flow_lock);
    while (due != NULL)
    {
        context = due;
        due = context->Next;
        hw_flow_delete_notify(context, "the flow ended");
    }
    return count;
}

/* -- run-time callouts ---------------------------------------------------------------------------------- */

static NTSTATUS hw_register(HW_API api, void *deviceObject, const GUID *key, void *classify, void *notify,
                            void *flowDelete, int version, UINT32 *calloutId)
{
    NTSTATUS status;
    HW_RCALLOUT *callout = NULL;
    char text[37] = "?";

    if (calloutId != NULL)
    {
        *calloutId = 0;
    }
    if (key != NULL)
    {
        hw_guid_text(key, text);
    }
    if (hw_api_enter(api, &status))
    {
        goto Done;
    }
    if (key == NULL || classify == NULL || notify == NULL)
    {
        hw_violation("%s: callout, classifyFn and notifyFn must be non-NULL", hw_api_name(api));
        status = STATUS_INVALID_PARAMETER;
        goto Done;
    }
    if (!hw_is_device(deviceObject))
    {
        hw_violation("%s: deviceObject %p is not a device object the driver created", hw_api_name(api),
                     deviceObject);
        status = STATUS_INVALID_PARAMETER;
        goto Done;
    }
    pthread_rwlock_wrlock(&g_engine_lock);
    if (hw_rcallout_by_key(key) != NULL)
    {
        status = STATUS_FWP_ALREADY_EXISTS;
    }
    else if ((callout = calloc(1, sizeof(*callout))) == NULL)
    {
        status = STATUS_INSUFFICIENT_RESOURCES;
    }
    else
    {
        callout->Key = *key;
        callout->Id = hw_callout_id_for(key);
        callout->Version = version;
        callout->Classify = classify;
        callout->Notify = notify;
        callout->FlowDelete = flowDelete;
        callout->Device = deviceObject;
        callout->Next = g_rcallouts;
        g_rcallouts = callout;
        if (calloutId != NULL)
        {
            *calloutId = callout->Id;
        }
        status = STATUS_SUCCESS;
    }
    pthread_rwlock_unlock(&g_engine_lock);
Done:
    hw_log_api(api, "%s(key %s) -> 0x%08X id %u", hw_api_name(api), text, (unsigned)status,
               callout && NT_SUCCESS(status) ? callout->Id : 0u);
    return status;
}

NTSTATUS FwpsCalloutRegister1(void *deviceObject, const FWPS_CALLOUT1 *callout, UINT32 *calloutId)
{
    return hw_register(HW_API_FwpsCalloutRegister1, deviceObject, callout ? &callout->calloutKey : NULL,
                       callout ? (void *)callout->classifyFn : NULL, callout ? (void *)callout->notifyFn : NULL,
                       callout ? (void *)callout->flowDeleteFn : NULL, 1, calloutId);
}

NTSTATUS FwpsCalloutRegister2(void *deviceObject, const FWPS_CALLOUT2 *callout, UINT32 *calloutId)
{
    return hw_register(HW_API_FwpsCalloutRegister2, deviceObject, callout ? &callout->calloutKey : NULL,
                       callout ? (void *)callout->classifyFn : NULL, callout ? (void *)callout->notifyFn : NULL,
                       callout ? (void *)callout->flowDeleteFn : NULL, 2, calloutId);
}

NTSTATUS FwpsCalloutRegister3(void *deviceObject, const FWPS_CALLOUT3 *callout, UINT32 *calloutId)
{
    return hw_register(HW_API_FwpsCalloutRegister3, deviceObject, callout ? &callout->calloutKey : NULL,
                       callout ? (void *)callout->classifyFn : NULL, callout ? (void *)callout->notifyFn : NULL,
                       callout ? (void *)callout->flowDeleteFn : NULL, 3, calloutId);
}

static NTSTATUS hw_unregister(HW_API api, const GUID *key, UINT32 id)
{
    NTSTATUS status;
    HW_RCALLOUT **it;
    HW_RCALLOUT *callout = NULL;
    HW_OBJECT *filter;
    uint32_t references = 0;
    uint32_t active = 0;
    uint32_t contexts = 0;
    char text[37] = "?";

    if (hw_api_enter(api, &status))
    {
        goto Done;
    }
    pthread_rwlock_wrlock(&g_engine_lock);
    for (it = &g_rcallouts; *it != NULL; it = &(*it)->Next)
    {
        if (key != NULL ? hw_guid_equal(&(*it)->Key, key) : (*it)->Id == id)
        {
            callout = *it;
            break;
        }
    }
    if (callout == NULL)
    {
        status = STATUS_FWP_CALLOUT_NOT_FOUND;
    }
    else
    {
        hw_guid_text(&callout->Key, text);
        id = callout->Id;
        for (filter = g_objects[HW_FILTER]; filter != NULL; filter = filter->Next)
        {
            if (hw_is_callout_action(filter->Action) && hw_guid_equal(&filter->CalloutKey, &callout->Key))
            {
                references++;
            }
        }
        active = __atomic_load_n(&callout->Active, __ATOMIC_ACQUIRE);
        contexts = hw_flow_contexts_of(callout->Id);
        if (references > 0)
        {
            status = STATUS_DEVICE_BUSY;
        }
        else if (contexts > 0)
        {
            /* WFP's rule: the callout stays registered until the driver has removed every flow
             * context it associated (FwpsFlowRemoveContext0) and calls again. */
            callout->BusyContexts = contexts;
            status = STATUS_DEVICE_BUSY;
        }
        else
        {
            *it = callout->Next;
            free(callout);
            status = STATUS_SUCCESS;
        }
    }
    pthread_rwlock_unlock(&g_engine_lock);
    if (active > 0)
    {
        /* The runtime's own rule, not the driver's: the callout's code must not be running on
         * another thread once its unregistration can return. */
        hw_violation("%s(id %u, key %s): %u classifyFn call(s) still running on other threads at unregistration",
                     hw_api_name(api), (unsigned)id, text, active);
    }
    if (references > 0)
    {
        hw_violation("%s(id %u, key %s): callout unregistered while a filter still references it (%u filter(s); "
                     "delete the filters or close the dynamic session first)",
                     hw_api_name(api), (unsigned)id, text, references);
    }
Done:
    hw_log_api(api, "%s(id %u, key %s) -> 0x%08X%s", hw_api_name(api), (unsigned)id, text, (unsigned)status,
               contexts > 0 ? " (flow contexts still associated)" : "");
    return status;
}

NTSTATUS FwpsCalloutUnregisterById0(const UINT32 calloutId)
{
    return hw_unregister(HW_API_FwpsCalloutUnregisterById0, NULL, calloutId);
}

NTSTATUS FwpsCalloutUnregisterByKey0(const GUID *calloutKey)
{
    if (calloutKey == NULL)
    {
        return STATUS_INVALID_PARAMETER;
    }
    return hw_unregister(HW_API_FwpsCalloutUnregisterByKey0, calloutKey, 0);
}

uint32_t hw_fwp_callouts_on_device(const void *device)
{
    HW_RCALLOUT *it;
    uint32_t count = 0;

    pthread_rwlock_rdlock(&g_engine_lock);
    for (it = g_rcallouts; it != NULL; it = it->Next)
    {
        if (it->Device == device)
        {
            count++;
        }
    }
    pthread_rwlock_unlock(&g_engine_lock);
    return count;
}

/* -- classification ------------------------------------------------------------------------------------- */

static BOOLEAN hw_numeric(const FWP_VALUE0 *value, BOOLEAN *is_signed, uint64_t *u, int64_t *s)
{
    *is_signed = FALSE;
    switch (value->type)
    {
    case FWP_UINT8:
        *u = value->uint8;
        return TRUE;
    case FWP_UINT16:
        *u = value->uint16;
        return TRUE;
    case FWP_UINT32:
        *u = value->uint32;
        return TRUE;
    case FWP_UINT64:
        if (value->uint64 == NULL)
        {
            return FALSE;
        }
        *u = *value->uint64;
        return TRUE;
    case FWP_INT8:
        *s = value->int8;
        break;
    case FWP_INT16:
        *s = value->int16;
        break;
    case FWP_INT32:
        *s = value->int32;
        break;
    case FWP_INT64:
        if (value->int64 == NULL)
        {
            return FALSE;
        }
        *s = *value->int64;
        break;
    default:
        return FALSE;
    }
    *is_signed = TRUE;
    return TRUE;
}

/* -1, 0, 1 for incoming value vs. condition value; 2 when not comparable. */
static int hw_compare(const FWP_VALUE0 *incoming, const FWP_VALUE0 *condition)
{
    BOOLEAN signed_in;
    BOOLEAN signed_cond;
    uint64_t u_in = 0;
    uint64_t u_cond = 0;
    int64_t s_in = 0;
    int64_t s_cond = 0;
    int cmp;

    if (hw_is_numeric(incoming->type) || hw_is_numeric(condition->type))
    {
        if (incoming->type != condition->type || !hw_numeric(incoming, &signed_in, &u_in, &s_in) ||
            !hw_numeric(condition, &signed_cond, &u_cond, &s_cond))
        {
            return 2;
        }
        if (signed_in)
        {
            return (s_in > s_cond) - (s_in < s_cond);
        }
        return (u_in > u_cond) - (u_in < u_cond);
    }
    if (incoming->type != condition->type)
    {
        return 2;
    }
    switch (incoming->type)
    {
    case FWP_BYTE_ARRAY16_TYPE:
        if (incoming->byteArray16 == NULL || condition->byteArray16 == NULL)
        {
            return 2;
        }
        cmp = memcmp(incoming->byteArray16->byteArray16, condition->byteArray16->byteArray16, 16);
        return (cmp > 0) - (cmp < 0);
    case FWP_BYTE_ARRAY6_TYPE:
        if (incoming->byteArray6 == NULL || condition->byteArray6 == NULL)
        {
            return 2;
        }
        cmp = memcmp(incoming->byteArray6->byteArray6, condition->byteArray6->byteArray6, 6);
        return (cmp > 0) - (cmp < 0);
    case FWP_BYTE_BLOB_TYPE:
    case FWP_SECURITY_DESCRIPTOR_TYPE:
    case FWP_TOKEN_ACCESS_INFORMATION_TYPE:
        if (incoming->byteBlob == NULL || condition->byteBlob == NULL)
        {
            return 2;
        }
        if (incoming->byteBlob->size != condition->byteBlob->size)
        {
            return incoming->byteBlob->size > condition->byteBlob->size ? 1 : -1;
        }
        cmp = incoming->byteBlob->size ? memcmp(incoming->byteBlob->data, condition->byteBlob->data,
                                                incoming->byteBlob->size)
                                       : 0;
        return (cmp > 0) - (cmp < 0);
    case FWP_SID:
    {
        size_t a;
        size_t b;

        if (incoming->sid == NULL || condition->sid == NULL)
        {
            return 2;
        }
        a = 8u + 4u * (size_t)incoming->sid->SubAuthorityCount;
        b = 8u + 4u * (size_t)condition->sid->SubAuthorityCount;
        if (a != b)
        {
            return a > b ? 1 : -1;
        }
        cmp = memcmp(incoming->sid, condition->sid, a);
        return (cmp > 0) - (cmp < 0);
    }
    case FWP_UNICODE_STRING_TYPE:
    {
        size_t i = 0;

        if (incoming->unicodeString == NULL || condition->unicodeString == NULL)
        {
            return 2;
        }
        while (incoming->unicodeString[i] != 0 && incoming->unicodeString[i] == condition->unicodeString[i])
        {
            i++;
        }
        return (incoming->unicodeString[i] > condition->unicodeString[i]) -
               (incoming->unicodeString[i] < condition->unicodeString[i]);
    }
    default:
        return 2;
    }
}

static BOOLEAN hw_condition_matches(const HW_CONDITION *condition, const FWP_VALUE0 *incoming)
{
    const FWP_CONDITION_VALUE0 *value = &condition->Value.conditionValue;
    FWP_MATCH_TYPE match = condition->Value.matchType;
    int cmp;

    if (incoming->type == FWP_EMPTY)
    {
        return FALSE;
    }
    switch (value->type)
    {
    case FWP_V4_ADDR_MASK:
    {
        BOOLEAN equal;

        if (incoming->type != FWP_UINT32)
        {
            return FALSE;
        }
        equal = (incoming->uint32 & value->v4AddrMask->mask) == (value->v4AddrMask->addr & value->v4AddrMask->mask);
        return match == FWP_MATCH_EQUAL ? equal : !equal;
    }
    case FWP_V6_ADDR_MASK:
    {
        const UINT8 *a;
        const UINT8 *b = value->v6AddrMask->addr;
        UINT8 bits = value->v6AddrMask->prefixLength;
        BOOLEAN equal;
        UINT8 i;

        if (incoming->type != FWP_BYTE_ARRAY16_TYPE || incoming->byteArray16 == NULL)
        {
            return FALSE;
        }
        a = incoming->byteArray16->byteArray16;
        equal = memcmp(a, b, bits / 8u) == 0;
        if (equal && (bits % 8u) != 0)
        {
            i = (UINT8)(bits / 8u);
            equal = ((a[i] ^ b[i]) & (UINT8)(0xFFu << (8u - bits % 8u))) == 0;
        }
        return match == FWP_MATCH_EQUAL ? equal : !equal;
    }
    case FWP_RANGE_TYPE:
    {
        int low = hw_compare(incoming, &value->rangeValue->valueLow);
        int high = hw_compare(incoming, &value->rangeValue->valueHigh);

        return low != 2 && high != 2 && low >= 0 && high <= 0;
    }
    default:
        break;
    }
    if (match == FWP_MATCH_FLAGS_ALL_SET || match == FWP_MATCH_FLAGS_ANY_SET || match == FWP_MATCH_FLAGS_NONE_SET)
    {
        BOOLEAN s;
        uint64_t u_in = 0;
        uint64_t u_cond = 0;
        int64_t ignored;

        if (incoming->type != value->type || !hw_numeric(incoming, &s, &u_in, &ignored) ||
            !hw_numeric((const FWP_VALUE0 *)(const void *)value, &s, &u_cond, &ignored))
        {
            return FALSE;
        }
        if (match == FWP_MATCH_FLAGS_ALL_SET)
        {
            return (u_in & u_cond) == u_cond;
        }
        if (match == FWP_MATCH_FLAGS_ANY_SET)
        {
            return (u_in & u_cond) != 0;
        }
        return (u_in & u_cond) == 0;
    }
    cmp = hw_compare(incoming, (const FWP_VALUE0 *)(const void *)value);
    if (cmp == 2)
    {
        return FALSE;
    }
    switch (match)
    {
    case FWP_MATCH_EQUAL:
        return cmp == 0;
    case FWP_MATCH_NOT_EQUAL:
        return cmp != 0;
    case FWP_MATCH_GREATER:
        return cmp > 0;
    case FWP_MATCH_LESS:
        return cmp < 0;
    case FWP_MATCH_GREATER_OR_EQUAL:
        return cmp >= 0;
    case FWP_MATCH_LESS_OR_EQUAL:
        return cmp <= 0;
    default:
        return FALSE;
    }
}

/* All conditions: AND across fields, OR among the conditions on one field. */
static BOOLEAN hw_filter_matches(const HW_OBJECT *filter, const FWPS_INCOMING_VALUES0 *values)
{
    static const FWP_VALUE0 empty;
    UINT32 i;
    UINT32 j;

    for (i = 0; i < filter->ConditionCount; i++)
    {
        BOOLEAN first = TRUE;
        BOOLEAN any = FALSE;

        for (j = 0; j < i; j++)
        {
            if (filter->Conditions[j].Field == filter->Conditions[i].Field)
            {
                first = FALSE; /* this field was decided at its first condition */
                break;
            }
        }
        if (!first)
        {
            continue;
        }
        for (j = i; j < filter->ConditionCount && !any; j++)
        {
            const HW_CONDITION *condition = &filter->Conditions[j];
            const FWP_VALUE0 *incoming =
                condition->Field < values->valueCount ? &values->incomingValue[condition->Field].value : &empty;

            if (condition->Field == filter->Conditions[i].Field && hw_condition_matches(condition, incoming))
            {
                any = TRUE;
            }
        }
        if (!any)
        {
            return FALSE;
        }
    }
    return TRUE;
}

typedef struct _HW_MATCH
{
    HW_OBJECT *Filter;
    HW_RCALLOUT *Callout; /* NULL for static actions or unregistered callouts */
} HW_MATCH;

/* One classify's packets: the NET_BUFFER_LIST handed to classifyFn as layerData, built on the
 * classifying thread's stack from the harness's lengths (HOSTWDK_METADATA.net_buffer_*). */
typedef struct _HW_PACKETS
{
    NET_BUFFER_LIST List;
    NET_BUFFER Buffers[HOSTWDK_MAX_NET_BUFFERS];
    const uint32_t *Lengths;
    uint32_t Count;
} HW_PACKETS;

static void hw_packets_build(HW_PACKETS *packets)
{
    uint32_t i;

    memset(&packets->List, 0, sizeof(packets->List));
    memset(packets->Buffers, 0, sizeof(packets->Buffers[0]) * packets->Count);
    packets->List.FirstNetBuffer = &packets->Buffers[0];
    for (i = 0; i < packets->Count; i++)
    {
        packets->Buffers[i].Next = i + 1 < packets->Count ? &packets->Buffers[i + 1] : NULL;
        packets->Buffers[i].DataLength = packets->Lengths[i];
    }
}

/* Whether the list is as hw_packets_build left it (a classifyFn restores what it changes). */
static BOOLEAN hw_packets_intact(const HW_PACKETS *packets)
{
    uint32_t i;

    if (packets->List.Next != NULL || packets->List.FirstNetBuffer != &packets->Buffers[0])
    {
        return FALSE;
    }
    for (i = 0; i < packets->Count; i++)
    {
        const NET_BUFFER *nb = &packets->Buffers[i];

        if (nb->Next != (i + 1 < packets->Count ? &packets->Buffers[i + 1] : NULL) ||
            nb->stDataLength != (SIZE_T)packets->Lengths[i] || nb->DataOffset != 0 || nb->CurrentMdl != NULL ||
            nb->CurrentMdlOffset != 0 || nb->MdlChain != NULL)
        {
            return FALSE;
        }
    }
    return TRUE;
}

static BOOLEAN hw_before(const HW_MATCH *a, const HW_MATCH *b)
{
    if (a->Filter->SubLayerWeight != b->Filter->SubLayerWeight)
    {
        return a->Filter->SubLayerWeight > b->Filter->SubLayerWeight;
    }
    if (!hw_guid_equal(&a->Filter->SubLayer, &b->Filter->SubLayer))
    {
        return memcmp(&a->Filter->SubLayer, &b->Filter->SubLayer, sizeof(GUID)) < 0;
    }
    if (a->Filter->Weight != b->Filter->Weight)
    {
        return a->Filter->Weight > b->Filter->Weight;
    }
    return a->Filter->Order < b->Filter->Order;
}

static const char *hw_action_name(FWP_ACTION_TYPE action)
{
    switch (action)
    {
    case FWP_ACTION_BLOCK:
        return "FWP_ACTION_BLOCK";
    case FWP_ACTION_PERMIT:
        return "FWP_ACTION_PERMIT";
    case FWP_ACTION_CONTINUE:
        return "FWP_ACTION_CONTINUE";
    case FWP_ACTION_NONE:
        return "FWP_ACTION_NONE";
    case FWP_ACTION_NONE_NO_MATCH:
        return "FWP_ACTION_NONE_NO_MATCH";
    case 0:
        return "(unset)";
    default:
        return "(unknown action)";
    }
}

/* Runs the match's classifyFn with the flow's context for that callout and layer, if any; FALSE when
 * the callout was added with FWP_CALLOUT_FLAG_CONDITIONAL_ON_FLOW and the flow has no context for it
 * (WFP then does not call it). */
static BOOLEAN hw_call_classify(HW_MATCH *match, const FWPS_INCOMING_VALUES0 *values,
                                const FWPS_INCOMING_METADATA_VALUES0 *metadata, HW_PACKETS *packets,
                                FWPS_CLASSIFY_OUT0 *out)
{
    void *layerData = packets != NULL ? (void *)&packets->List : NULL;
    const char *previous;
    HW_FLOW_CONTEXT *context = NULL;
    UINT64 flowContext = 0;

    if (metadata->currentMetadataValues & FWPS_METADATA_FIELD_FLOW_HANDLE)
    {
        context = hw_flow_hold(metadata->flowHandle, values->layerId, match->Callout->Id);
    }
    if (context != NULL)
    {
        flowContext = context->Context;
    }
    else
    {
        const HW_OBJECT *object = hw_find(HW_CALLOUT, &match->Filter->CalloutKey);

        if (object != NULL && (object->CalloutFlags & FWP_CALLOUT_FLAG_CONDITIONAL_ON_FLOW))
        {
            return FALSE;
        }
    }
    previous = hw_enter_driver("classifyFn", DISPATCH_LEVEL);
    __atomic_add_fetch(&match->Callout->Active, 1u, __ATOMIC_ACQ_REL);

    switch (match->Callout->Version)
    {
    case 1:
        ((FWPS_CALLOUT_CLASSIFY_FN1)match->Callout->Classify)(
            values, metadata, layerData, NULL, (const FWPS_FILTER1 *)(const void *)&match->Filter->Runtime, flowContext,
            out);
        break;
    case 2:
        ((FWPS_CALLOUT_CLASSIFY_FN2)match->Callout->Classify)(
            values, metadata, layerData, NULL, (const FWPS_FILTER2 *)(const void *)&match->Filter->Runtime, flowContext,
            out);
        break;
    default:
        ((FWPS_CALLOUT_CLASSIFY_FN3)match->Callout->Classify)(values, metadata, layerData, NULL,
                                                              &match->Filter->Runtime, flowContext, out);
        break;
    }
    __atomic_sub_fetch(&match->Callout->Active, 1u, __ATOMIC_ACQ_REL);
    hw_leave_driver("classifyFn", DISPATCH_LEVEL, previous, PASSIVE_LEVEL);
    if (packets != NULL && !hw_packets_intact(packets))
    {
        hw_violation("classifyFn (filter %llu) returned with the NET_BUFFER_LIST of layerData changed (a NET_BUFFER "
                     "advanced, retreated, resized or unlinked): a callout restores what it changes before returning",
                     (unsigned long long)match->Filter->FilterId);
        hw_packets_build(packets); /* the next callout gets the packets as WFP indicated them */
    }
    if (context != NULL)
    {
        hw_flow_release(context);
    }
    return TRUE;
}

/* Runs the matching filters of `layer` (engine lock held for reading) and arbitrates. */
static void hw_classify_locked(const HOSTWDK_CATALOG_LAYER *layer, const FWPS_INCOMING_VALUES0 *values,
                               const FWPS_INCOMING_METADATA_VALUES0 *metadata, HW_PACKETS *packets,
                               HOSTWDK_VERDICT *verdict)
{
    HW_MATCH local[32];
    HW_MATCH *matches = local;
    uint32_t capacity = RTL_NUMBER_OF(local);
    uint32_t count = 0;
    uint32_t i;
    uint32_t j;
    HW_OBJECT *filter;
    FWP_ACTION_TYPE decision = 0; /* BLOCK or PERMIT once a sublayer decided */
    BOOLEAN hard = FALSE;         /* the decision cleared FWPS_RIGHT_ACTION_WRITE */
    UINT32 rights = FWPS_RIGHT_ACTION_WRITE;

    for (filter = g_objects[HW_FILTER]; filter != NULL; filter = filter->Next)
    {
        if (filter->Layer != layer || filter->Uncommitted || filter->Hidden || !hw_filter_matches(filter, values))
        {
            continue;
        }
        if (count == capacity)
        {
            HW_MATCH *bigger = malloc(sizeof(HW_MATCH) * capacity * 2u);

            if (bigger == NULL)
            {
                break;
            }
            memcpy(bigger, matches, sizeof(HW_MATCH) * count);
            if (matches != local)
            {
                free(matches);
            }
            matches = bigger;
            capacity *= 2u;
        }
        matches[count].Filter = filter;
        matches[count].Callout =
            hw_is_callout_action(filter->Action) ? hw_rcallout_by_key(&filter->CalloutKey) : NULL;
        /* insertion sort: sublayer weight, sublayer, filter weight (descending), then age */
        for (j = count; j > 0 && hw_before(&matches[count], &matches[j - 1]); j--)
        {
        }
        if (j < count)
        {
            HW_MATCH moving = matches[count];

            memmove(&matches[j + 1], &matches[j], sizeof(HW_MATCH) * (count - j));
            matches[j] = moving;
        }
        count++;
    }
    verdict->filters_matched = count;

    for (i = 0; i < count;)
    {
        const GUID *sublayer = &matches[i].Filter->SubLayer;
        FWP_ACTION_TYPE action = 0; /* the sublayer's decision */
        BOOLEAN action_hard = FALSE;

        for (; i < count && hw_guid_equal(&matches[i].Filter->SubLayer, sublayer); i++)
        {
            HW_MATCH *match = &matches[i];
            FWPS_CLASSIFY_OUT0 out;
            UINT32 given;

            if (action != 0)
            {
                continue; /* the sublayer already decided: skip the rest of it */
            }
            if (match->Filter->Action == FWP_ACTION_BLOCK || match->Filter->Action == FWP_ACTION_PERMIT)
            {
                action = match->Filter->Action;
                continue;
            }
            if (match->Callout == NULL)
            {
                /* Callout not registered: terminating and unknown act as block, inspection is skipped. */
                if (match->Filter->Action != FWP_ACTION_CALLOUT_INSPECTION)
                {
                    action = FWP_ACTION_BLOCK;
                }
                continue;
            }
            given = (decision != 0 && hard) ? 0u : (UINT32)FWPS_RIGHT_ACTION_WRITE;
            memset(&out, 0, sizeof(out));
            out.actionType = FWP_ACTION_CONTINUE;
            out.rights = given;
            out.filterId = match->Filter->FilterId;
            if (!hw_call_classify(match, values, metadata, packets, &out))
            {
                continue;
            }
            verdict->callouts_invoked++;
            rights = out.rights;
            if ((given & FWPS_RIGHT_ACTION_WRITE) == 0 && out.actionType != FWP_ACTION_CONTINUE)
            {
                hw_violation("classifyFn (filter %llu) set %s without FWPS_RIGHT_ACTION_WRITE in classifyOut->rights",
                             (unsigned long long)match->Filter->FilterId, hw_action_name(out.actionType));
                continue;
            }
            if ((out.rights & ~given) != 0)
            {
                hw_violation("classifyFn (filter %llu) set rights 0x%x it was not given (0x%x)",
                             (unsigned long long)match->Filter->FilterId, (unsigned)out.rights, (unsigned)given);
            }
            switch (out.actionType)
            {
            case FWP_ACTION_BLOCK:
            case FWP_ACTION_PERMIT:
                if (match->Filter->Action == FWP_ACTION_CALLOUT_INSPECTION)
                {
                    hw_violation("classifyFn of an FWP_ACTION_CALLOUT_INSPECTION filter (filter %llu) returned %s: "
                                 "inspection callouts never block or permit",
                                 (unsigned long long)match->Filter->FilterId, hw_action_name(out.actionType));
                }
                action = out.actionType;
                action_hard = (out.rights & FWPS_RIGHT_ACTION_WRITE) == 0;
                break;
            case FWP_ACTION_CONTINUE:
                if (match->Filter->Action == FWP_ACTION_CALLOUT_TERMINATING && (given & FWPS_RIGHT_ACTION_WRITE))
                {
                    hw_violation("classifyFn of an FWP_ACTION_CALLOUT_TERMINATING filter (filter %llu) returned "
                                 "FWP_ACTION_CONTINUE: terminating callouts return block or permit",
                                 (unsigned long long)match->Filter->FilterId);
                }
                break;
            default:
                hw_violation("classifyFn (filter %llu) returned actionType 0x%x (%s)",
                             (unsigned long long)match->Filter->FilterId, (unsigned)out.actionType,
                             hw_action_name(out.actionType));
                break;
            }
        }
        /* Arbitration across sublayers: block overrides permit, unless the permit was hard
         * (it cleared the write right) and the block is not a callout's veto. */
        if (action == FWP_ACTION_BLOCK)
        {
            if (!(decision == FWP_ACTION_PERMIT && hard && !action_hard))
            {
                decision = FWP_ACTION_BLOCK;
                hard = hard || action_hard;
            }
        }
        else if (action == FWP_ACTION_PERMIT && decision == 0)
        {
            decision = FWP_ACTION_PERMIT;
            hard = action_hard;
        }
    }
    if (decision != 0)
    {
        verdict->action_type = decision;
    }
    else
    {
        verdict->action_type = count > 0 ? FWP_ACTION_CONTINUE : FWP_ACTION_PERMIT;
    }
    verdict->rights = rights;
    if (matches != local)
    {
        free(matches);
    }
}

static NTSTATUS hw_classify(UINT16 layer_id, const HOSTWDK_VALUE *values, UINT32 value_count,
                            const HOSTWDK_METADATA *metadata, HOSTWDK_VERDICT *verdict)
{
    const HOSTWDK_CATALOG_LAYER *layer = hw_layer_by_id(layer_id);
    FWPS_INCOMING_VALUE0 incoming[HOSTWDK_MAX_FIELDS];
    UINT64 scalars[HOSTWDK_MAX_FIELDS];
    FWP_BYTE_BLOB blobs[HOSTWDK_MAX_FIELDS];
    FWPS_INCOMING_VALUES0 fixed;
    FWPS_INCOMING_METADATA_VALUES0 meta;
    FWP_BYTE_BLOB path;
    HW_PACKETS packets; /* per call, on this thread's stack: classifies run on many threads at once */
    HW_THREAD *thread = hw_thread();
    uint64_t saved_pid;
    UINT32 i;

    memset(verdict, 0, sizeof(*verdict));
    if (layer == NULL)
    {
        return STATUS_FWP_LAYER_NOT_FOUND;
    }
    if (value_count > layer->FieldCount || (value_count > 0 && values == NULL))
    {
        return STATUS_INVALID_PARAMETER;
    }
    packets.Count = metadata != NULL ? metadata->net_buffer_count : 0;
    packets.Lengths = metadata != NULL ? metadata->net_buffer_lengths : NULL;
    if (packets.Count > HOSTWDK_MAX_NET_BUFFERS || (packets.Count > 0 && packets.Lengths == NULL) ||
        (packets.Count > 0 && strncmp(layer->FwpsName, "FWPS_LAYER_STREAM_V", 19) == 0))
    {
        return STATUS_INVALID_PARAMETER; /* too many; no lengths; a stream layer's layerData is no NBL */
    }
    if (packets.Count > 0)
    {
        hw_packets_build(&packets);
    }
    if (thread->Irql != PASSIVE_LEVEL || thread->HeldCount > 0)
    {
        hw_violation("HostWdk_Classify called from %s at IRQL %u: the harness classifies from its own threads",
                     thread->Context, (unsigned)thread->Irql);
        return STATUS_UNSUCCESSFUL;
    }
    memset(incoming, 0, sizeof(incoming[0]) * layer->FieldCount);
    for (i = 0; i < value_count; i++)
    {
        const HOSTWDK_VALUE *in = &values[i];
        FWP_VALUE0 *out = &incoming[i].value;

        out->type = (FWP_DATA_TYPE)in->type;
        switch (in->type)
        {
        case FWP_EMPTY:
            break;
        case FWP_UINT8:
            out->uint8 = (UINT8)in->u64;
            break;
        case FWP_UINT16:
            out->uint16 = (UINT16)in->u64;
            break;
        case FWP_UINT32:
            out->uint32 = (UINT32)in->u64;
            break;
        case FWP_INT8:
            out->int8 = (INT8)in->u64;
            break;
        case FWP_INT16:
            out->int16 = (INT16)in->u64;
            break;
        case FWP_INT32:
            out->int32 = (INT32)in->u64;
            break;
        case FWP_UINT64:
        case FWP_INT64:
        case FWP_DOUBLE:
            scalars[i] = in->u64;
            out->uint64 = &scalars[i];
            break;
        case FWP_BYTE_ARRAY16_TYPE:
            if (in->data == NULL || in->size != 16)
            {
                return STATUS_INVALID_PARAMETER;
            }
            out->byteArray16 = (FWP_BYTE_ARRAY16 *)(uintptr_t)in->data;
            break;
        case FWP_BYTE_ARRAY6_TYPE:
            if (in->data == NULL || in->size != 6)
            {
                return STATUS_INVALID_PARAMETER;
            }
            out->byteArray6 = (FWP_BYTE_ARRAY6 *)(uintptr_t)in->data;
            break;
        case FWP_BYTE_BLOB_TYPE:
        case FWP_SECURITY_DESCRIPTOR_TYPE:
        case FWP_TOKEN_ACCESS_INFORMATION_TYPE:
            if (in->data == NULL && in->size > 0)
            {
                return STATUS_INVALID_PARAMETER;
            }
            blobs[i].size = in->size;
            blobs[i].data = (UINT8 *)(uintptr_t)in->data;
            out->byteBlob = &blobs[i];
            break;
        case FWP_SID:
            if (in->data == NULL || in->size < 8 || in->size < 8u + 4u * (UINT32)in->data[1])
            {
                return STATUS_INVALID_PARAMETER;
            }
            out->sid = (SID *)(uintptr_t)in->data;
            break;
        case FWP_UNICODE_STRING_TYPE:
            if (in->data == NULL || in->size < 2 || (in->size & 1u) != 0 || in->data[in->size - 1] != 0 ||
                in->data[in->size - 2] != 0)
            {
                return STATUS_INVALID_PARAMETER;
            }
            out->unicodeString = (LPWSTR)(uintptr_t)in->data;
            break;
        default:
            return STATUS_INVALID_PARAMETER;
        }
    }
    fixed.layerId = layer_id;
    fixed.valueCount = layer->FieldCount;
    {
        uint32_t limit = __atomic_load_n(&g_value_count_limit, __ATOMIC_RELAXED);
        if (limit != 0 && limit < fixed.valueCount)
        {
            fixed.valueCount = limit; /* a short FWPS_INCOMING_VALUES0: the driver must not read past it */
        }
    }
    fixed.incomingValue = incoming;

    memset(&meta, 0, sizeof(meta));
    memset(&path, 0, sizeof(path));
    saved_pid = thread->ProcessId;
    if (metadata != NULL)
    {
        meta.currentMetadataValues = metadata->present;
        meta.processId = metadata->process_id;
        if (metadata->process_path != NULL)
        {
            path.size = metadata->process_path_size;
            path.data = (UINT8 *)(uintptr_t)metadata->process_path;
            meta.processPath = &path;
        }
        meta.compartmentId = metadata->compartment_id;
        meta.flowHandle = metadata->flow_handle;
        meta.transportEndpointHandle = metadata->transport_endpoint_handle;
        meta.ipHeaderSize = metadata->ip_header_size;
        meta.transportHeaderSize = metadata->transport_header_size;
        meta.packetDirection = (FWP_DIRECTION)metadata->packet_direction;
        meta.icmpIdAndSequence = metadata->icmp_id_and_sequence;
        meta.parentEndpointHandle = metadata->parent_endpoint_handle;
        meta.token = metadata->token;
        meta.localRedirectTargetPID = metadata->local_redirect_target_pid;
        meta.pathMtu = metadata->path_mtu;
        if (metadata->present & FWPS_METADATA_FIELD_PROCESS_ID)
        {
            thread->ProcessId = metadata->process_id; /* ALE classifies run in the process's context */
        }
    }
    pthread_rwlock_rdlock(&g_engine_lock);
    t_engine_readers++;
    hw_classify_locked(layer, &fixed, &meta, packets.Count > 0 ? &packets : NULL, verdict);
    t_engine_readers--;
    pthread_rwlock_unlock(&g_engine_lock);
    thread->ProcessId = saved_pid;
    return STATUS_SUCCESS;
}

int32_t HostWdk_Classify(uint16_t layer_id, const HOSTWDK_VALUE *values, uint32_t value_count,
                         const HOSTWDK_METADATA *metadata, HOSTWDK_VERDICT *verdict)
{
    HOSTWDK_VERDICT ignored;

    return hw_classify(layer_id, values, value_count, metadata, verdict ? verdict : &ignored);
}

int32_t HostWdk_ClassifyRepeat(uint16_t layer_id, const HOSTWDK_VALUE *values, uint32_t value_count,
                               const HOSTWDK_METADATA *metadata, uint32_t repeat, HOSTWDK_VERDICT *last)
{
    HOSTWDK_VERDICT verdict;
    NTSTATUS status = STATUS_SUCCESS;
    uint32_t i;

    memset(&verdict, 0, sizeof(verdict));
    for (i = 0; i < repeat && NT_SUCCESS(status); i++)
    {
        status = hw_classify(layer_id, values, value_count, metadata, &verdict);
    }
    if (last != NULL)
    {
        *last = verdict;
    }
    return status;
}

/* -- counters, listing, audit, reset ----------------------------------------------------------------- */

void hw_fwp_counters(HOSTWDK_COUNTERS *counters)
{
    HW_ENGINE *engine;
    HW_RCALLOUT *callout;

    pthread_rwlock_rdlock(&g_engine_lock);
    for (engine = g_engines; engine != NULL; engine = engine->Next)
    {
        counters->engines++;
        counters->transactions += engine->InTransaction ? 1u : 0u;
    }
    counters->providers = g_object_counts[HW_PROVIDER];
    counters->sublayers = g_object_counts[HW_SUBLAYER];
    counters->callouts = g_object_counts[HW_CALLOUT];
    counters->filters = g_object_counts[HW_FILTER];
    for (callout = g_rcallouts; callout != NULL; callout = callout->Next)
    {
        counters->runtime_callouts++;
    }
    pthread_rwlock_unlock(&g_engine_lock);
    counters->flow_contexts = __atomic_load_n(&g_flow_context_count, __ATOMIC_RELAXED);
}

static void hw_value_text(HW_TEXT *text, const FWP_CONDITION_VALUE0 *value)
{
    UINT32 i;

    switch (value->type)
    {
    case FWP_UINT8:
        hw_text_append(text, "%u", (unsigned)value->uint8);
        break;
    case FWP_UINT16:
        hw_text_append(text, "%u", (unsigned)value->uint16);
        break;
    case FWP_UINT32:
        hw_text_append(text, "%u", (unsigned)value->uint32);
        break;
    case FWP_UINT64:
        hw_text_append(text, "%llu", value->uint64 ? (unsigned long long)*value->uint64 : 0ull);
        break;
    case FWP_INT8:
    case FWP_INT16:
    case FWP_INT32:
        hw_text_append(text, "%d",
                       value->type == FWP_INT8 ? value->int8 : value->type == FWP_INT16 ? value->int16 : value->int32);
        break;
    case FWP_INT64:
        hw_text_append(text, "%lld", value->int64 ? (long long)*value->int64 : 0ll);
        break;
    case FWP_V4_ADDR_MASK:
        hw_text_append(text, "%u.%u.%u.%u/0x%08x", (unsigned)(value->v4AddrMask->addr >> 24) & 0xffu,
                       (unsigned)(value->v4AddrMask->addr >> 16) & 0xffu,
                       (unsigned)(value->v4AddrMask->addr >> 8) & 0xffu, (unsigned)value->v4AddrMask->addr & 0xffu,
                       (unsigned)value->v4AddrMask->mask);
        break;
    case FWP_V6_ADDR_MASK:
        for (i = 0; i < 16; i++)
        {
            hw_text_append(text, "%02x", value->v6AddrMask->addr[i]);
        }
        hw_text_append(text, "/%u", (unsigned)value->v6AddrMask->prefixLength);
        break;
    case FWP_BYTE_ARRAY16_TYPE:
        for (i = 0; i < 16; i++)
        {
            hw_text_append(text, "%02x", value->byteArray16->byteArray16[i]);
        }
        break;
    case FWP_BYTE_BLOB_TYPE:
    case FWP_SECURITY_DESCRIPTOR_TYPE:
    case FWP_TOKEN_ACCESS_INFORMATION_TYPE:
        hw_text_append(text, "blob:%u:", (unsigned)value->byteBlob->size);
        for (i = 0; i < value->byteBlob->size && i < 64; i++)
        {
            hw_text_append(text, "%02x", value->byteBlob->data[i]);
        }
        break;
    case FWP_RANGE_TYPE:
        hw_value_text(text, (const FWP_CONDITION_VALUE0 *)(const void *)&value->rangeValue->valueLow);
        hw_text_append(text, "..");
        hw_value_text(text, (const FWP_CONDITION_VALUE0 *)(const void *)&value->rangeValue->valueHigh);
        break;
    default:
        hw_text_append(text, "(type %d)", (int)value->type);
        break;
    }
}

const char *HostWdk_Filters(void)
{
    static HW_TEXT listing;
    static pthread_mutex_t listing_mutex = PTHREAD_MUTEX_INITIALIZER;
    HW_OBJECT *filter;
    char layer[37];
    char callout[37];
    char field[37];
    UINT32 i;

    pthread_mutex_lock(&listing_mutex);
    hw_text_clear(&listing);
    pthread_rwlock_rdlock(&g_engine_lock);
    for (filter = g_objects[HW_FILTER]; filter != NULL; filter = filter->Next)
    {
        hw_text_append(&listing, "layer=%s action=0x%04X callout=%s conditions=%u",
                       hw_guid_text(&filter->Layer->LayerKey, layer), (unsigned)filter->Action,
                       hw_is_callout_action(filter->Action) ? hw_guid_text(&filter->CalloutKey, callout) : "none",
                       (unsigned)filter->ConditionCount);
        for (i = 0; i < filter->ConditionCount; i++)
        {
            const HW_CONDITION *condition = &filter->Conditions[i];

            hw_text_append(&listing, " [field=%s match=%d type=%d value=", hw_guid_text(&condition->Value.fieldKey, field),
                           (int)condition->Value.matchType, (int)condition->Value.conditionValue.type);
            hw_value_text(&listing, &condition->Value.conditionValue);
            hw_text_append(&listing, "]");
        }
        hw_text_append(&listing, "\n");
    }
    pthread_rwlock_unlock(&g_engine_lock);
    pthread_mutex_unlock(&listing_mutex);
    return listing.Data != NULL ? listing.Data : "";
}

void hw_fwp_audit(const char *prefix)
{
    HW_TEXT lines = {0};
    HW_ENGINE *engine;
    HW_RCALLOUT *callout;
    HW_OBJECT *object;
    char key[37];
    char *line;
    char *next;
    int kind;

    pthread_rwlock_rdlock(&g_engine_lock);
    for (engine = g_engines; engine != NULL; engine = engine->Next)
    {
        hw_text_append(&lines, "filter engine handle %p was never closed%s\n",
                       (void *)(uintptr_t)(HW_ENGINE_HANDLE_BASE + engine->Id),
                       engine->InTransaction ? " (with a transaction in progress)" : "");
    }
    for (callout = g_rcallouts; callout != NULL; callout = callout->Next)
    {
        if (callout->BusyContexts > 0)
        {
            hw_text_append(&lines, "run-time callout %s (id %u) is still registered: its unregistration failed with "
                           "STATUS_DEVICE_BUSY because %u flow context(s) were still associated with it (remove "
                           "them with FwpsFlowRemoveContext0 before unregistering the callout)\n",
                           hw_guid_text(&callout->Key, key), (unsigned)callout->Id, (unsigned)callout->BusyContexts);
        }
        else
        {
            hw_text_append(&lines, "run-time callout %s (id %u) is still registered\n",
                           hw_guid_text(&callout->Key, key), (unsigned)callout->Id);
        }
    }
    {
        uint32_t bucket;
        uint32_t left = 0;
        const HW_FLOW_CONTEXT *context;

        pthread_rwlock_rdlock(&g_flow_lock);
        for (bucket = 0; bucket < RTL_NUMBER_OF(g_flow_contexts); bucket++)
        {
            for (context = g_flow_contexts[bucket]; context != NULL; context = context->Next)
            {
                if (left++ < 5)
                {
                    hw_text_append(&lines, "flow context 0x%llx (flow %llu, layer %u, callout id %u) is still "
                                   "associated: the filter engine would call flowDeleteFn in the unloaded driver "
                                   "(remove it with FwpsFlowRemoveContext0 at unload)\n",
                                   (unsigned long long)context->Context, (unsigned long long)context->Flow,
                                   (unsigned)context->LayerId, (unsigned)context->CalloutId);
                }
            }
        }
        pthread_rwlock_unlock(&g_flow_lock);
        if (left > 5)
        {
            hw_text_append(&lines, "... and %u more flow contexts still associated\n", (unsigned)(left - 5));
        }
    }
    for (kind = HW_FILTER; kind >= HW_PROVIDER; kind--)
    {
        for (object = g_objects[kind]; object != NULL; object = object->Next)
        {
            hw_text_append(&lines, "%s %s is still in the filter engine\n", g_kind_names[kind],
                           hw_guid_text(&object->Key, key));
        }
    }
    pthread_rwlock_unlock(&g_engine_lock);
    for (line = lines.Data; line != NULL && *line != '\0'; line = next)
    {
        next = strchr(line, '\n');
        *next++ = '\0';
        hw_violation("%s%s", prefix, line);
    }
    hw_text_free(&lines);
}

void HostWdk_LimitValueCount(uint32_t limit)
{
    __atomic_store_n(&g_value_count_limit, limit, __ATOMIC_RELAXED);
}

void hw_fwp_reset(void)
{
    int kind;

    __atomic_store_n(&g_value_count_limit, 0, __ATOMIC_RELAXED);
    pthread_rwlock_wrlock(&g_engine_lock);
    while (g_engines != NULL)
    {
        HW_ENGINE *engine = g_engines;

        g_engines = engine->Next;
        while (engine->Undo != NULL)
        {
            HW_UNDO *undo = engine->Undo;

            engine->Undo = undo->Next;
            if (!undo->Added)
            {
                hw_free_object(undo->Object); /* deleted in the transaction: not linked */
            }
            free(undo);
        }
        free(engine);
    }
    for (kind = 0; kind < HW_KINDS; kind++)
    {
        while (g_objects[kind] != NULL)
        {
            HW_OBJECT *object = g_objects[kind];

            g_objects[kind] = object->Next;
            hw_free_object(object);
        }
        g_object_counts[kind] = 0;
    }
    while (g_rcallouts != NULL)
    {
        HW_RCALLOUT *callout = g_rcallouts;

        g_rcallouts = callout->Next;
        free(callout);
    }
    while (g_callout_ids != NULL)
    {
        HW_CALLOUT_ID *id = g_callout_ids;

        g_callout_ids = id->Next;
        free(id);
    }
    pthread_rwlock_wrlock(&g_flow_lock);
    {
        uint32_t bucket;

        for (bucket = 0; bucket < RTL_NUMBER_OF(g_flow_contexts); bucket++)
        {
            while (g_flow_contexts[bucket] != NULL)
            {
                HW_FLOW_CONTEXT *context = g_flow_contexts[bucket];

                g_flow_contexts[bucket] = context->Next;
                free(context);
            }
        }
        __atomic_store_n(&g_flow_context_count, 0u, __ATOMIC_RELAXED);
    }
    pthread_rwlock_unlock(&g_flow_lock);
    g_next_engine = 0;
    g_next_callout_id = 0;
    g_next_filter_id = 0;
    g_next_order = 0;
    pthread_rwlock_unlock(&g_engine_lock);
}
