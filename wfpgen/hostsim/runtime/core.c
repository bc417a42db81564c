/*
 * core.c - host runtime: per-thread IRQL, spin locks, pool, time, debug output, and the
 * bookkeeping every API shares (call counts, call log, fault injection, violations).
 *
 * Compiled with HOSTWDK_BENCH (the bench build variant), the checking machinery of the
 * classify path is left out: spin locks, the current processor and the call counters of the
 * hot-path APIs come from bench.c instead, and KeQuerySystemTimePrecise is not counted.
 */

#define _GNU_SOURCE

#include "hostwdk_internal.h"

#include <ctype.h>
#include <time.h>

/* -- API table ------------------------------------------------------------------------------- */

typedef struct _HW_API_INFO
{
    const char *Name;
    KIRQL MaxIrql;
    uint32_t Flags;
} HW_API_INFO;

static const HW_API_INFO g_apis[HW_API_COUNT] = {
#define HW_API_ROW(name, irql, flags) {#name, irql, flags},
    HW_APIS(HW_API_ROW)
#undef HW_API_ROW
};

static uint64_t g_call_counts[HW_API_COUNT]; /* relaxed atomics */

const char *hw_api_name(HW_API api)
{
    return g_apis[api].Name;
}

static int hw_api_lookup(const char *name)
{
    int i;

    if (name == NULL)
    {
        return -1;
    }
    if (strcmp(name, "IoCompleteRequest") == 0)
    {
        name = "IofCompleteRequest";
    }
    else if (strcmp(name, "IoCreateDeviceSecure") == 0)
    {
        name = "WdmlibIoCreateDeviceSecure";
    }
    else if (strcmp(name, "KeAcquireSpinLock") == 0)
    {
        name = "KeAcquireSpinLockRaiseToDpc";
    }
    for (i = 0; i < HW_API_COUNT; i++)
    {
        if (strcmp(g_apis[i].Name, name) == 0)
        {
            return i;
        }
    }
    return -1;
}

/* -- text buffers ---------------------------------------------------------------------------- */

void hw_text_append(HW_TEXT *text, const char *format, ...)
{
    va_list args;
    int needed;

    va_start(args, format);
    needed = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (needed < 0)
    {
        return;
    }
    if (text->Length + (size_t)needed + 1 > text->Capacity)
    {
        size_t capacity = text->Capacity ? text->Capacity : 256;
        char *data;

        while (text->Length + (size_t)needed + 1 > capacity)
        {
            capacity *= 2;
        }
        data = realloc(text->Data, capacity);
        if (data == NULL)
        {
            return;
        }
        text->Data = data;
        text->Capacity = capacity;
    }
    va_start(args, format);
    vsnprintf(text->Data + text->Length, (size_t)needed + 1, format, args);
    va_end(args);
    text->Length += (size_t)needed;
}

void hw_text_clear(HW_TEXT *text)
{
    text->Length = 0;
    if (text->Data != NULL)
    {
        text->Data[0] = '\0';
    }
}

void hw_text_free(HW_TEXT *text)
{
    free(text->Data);
    text->Data = NULL;
    text->Length = 0;
    text->Capacity = 0;
}

static const char *hw_text_get(const HW_TEXT *text)
{
    return text->Data != NULL ? text->Data : "";
}

/* -- per-thread state ------------------------------------------------------------------------ */

static __thread HW_THREAD t_thread;
static uint64_t g_next_thread_id; /* relaxed atomic */

#define HW_SYSTEM_PROCESS_ID 4u

HW_THREAD *hw_thread(void)
{
    if (t_thread.Id == 0)
    {
        t_thread.Id = __atomic_add_fetch(&g_next_thread_id, 1, __ATOMIC_RELAXED);
        t_thread.Irql = PASSIVE_LEVEL;
        t_thread.Context = "harness";
        t_thread.ProcessId = HW_SYSTEM_PROCESS_ID;
    }
    return &t_thread;
}

static const char *hw_irql_name(KIRQL irql)
{
    switch (irql)
    {
    case PASSIVE_LEVEL:
        return "PASSIVE_LEVEL";
    case APC_LEVEL:
        return "APC_LEVEL";
    case DISPATCH_LEVEL:
        return "DISPATCH_LEVEL";
    default:
        return "above DISPATCH_LEVEL";
    }
}

const char *hw_enter_driver(const char *context, KIRQL irql)
{
    HW_THREAD *thread = hw_thread();
    const char *previous = thread->Context;

    thread->Context = context;
    thread->Irql = irql;
    return previous;
}

void hw_leave_driver(const char *what, KIRQL irql, const char *previous, KIRQL restore_irql)
{
    HW_THREAD *thread = hw_thread();
    uint32_t i;

    if (thread->Irql != irql)
    {
        hw_violation("%s returned at %s (IRQL %u); it was called at %s", what, hw_irql_name(thread->Irql),
                     (unsigned)thread->Irql, hw_irql_name(irql));
    }
    if (thread->HeldCount > 0)
    {
        for (i = 0; i < thread->HeldCount; i++)
        {
            hw_violation("%s returned holding spin lock %p (taken with %s)", what, (void *)thread->Held[i].Lock,
                         thread->Held[i].Queued ? "KeAcquireInStackQueuedSpinLock" : "KeAcquireSpinLock");
        }
        hw_release_thread_locks();
    }
    thread->Context = previous;
    thread->Irql = restore_irql;
}

/* -- call log: lock-free append ---------------------------------------------------------------
 * Each line is formatted on the stack, then a range of the buffer is reserved with a relaxed
 * fetch-and-add and filled.  Read it when no other thread is inside the runtime. */

#define HW_LOG_CAPACITY (4u << 20)

static char g_log[HW_LOG_CAPACITY];
static uint64_t g_log_used;      /* relaxed atomic: bytes reserved */
static uint32_t g_log_truncated; /* relaxed atomic */
static HW_TEXT g_log_snapshot;

static void hw_log_line(const char *line, size_t length)
{
    uint64_t at = __atomic_fetch_add(&g_log_used, length, __ATOMIC_RELAXED);

    if (at + length >= HW_LOG_CAPACITY)
    {
        __atomic_store_n(&g_log_truncated, 1, __ATOMIC_RELAXED);
        return;
    }
    memcpy(g_log + at, line, length);
}

static void hw_log_va(const char *format, va_list args)
{
    char line[1024];
    int prefix = snprintf(line, sizeof(line), "[%s] ", hw_thread()->Context);
    int body;
    size_t length;

    if (prefix < 0 || (size_t)prefix >= sizeof(line))
    {
        return;
    }
    body = vsnprintf(line + prefix, sizeof(line) - (size_t)prefix - 1, format, args);
    if (body < 0)
    {
        return;
    }
    length = (size_t)prefix + (size_t)body;
    if (length > sizeof(line) - 2)
    {
        length = sizeof(line) - 2;
    }
    line[length++] = '\n';
    hw_log_line(line, length);
}

void hw_log(const char *format, ...)
{
    va_list args;

    va_start(args, format);
    hw_log_va(format, args);
    va_end(args);
}

void hw_log_api(HW_API api, const char *format, ...)
{
    va_list args;

    if (g_apis[api].Flags & HW_F_QUIET)
    {
        return;
    }
    va_start(args, format);
    hw_log_va(format, args);
    va_end(args);
}

/* -- violations ------------------------------------------------------------------------------ */

static pthread_mutex_t g_violation_mutex = PTHREAD_MUTEX_INITIALIZER;
static HW_TEXT g_violations;
static uint32_t g_violation_count;
static HW_TEXT g_violation_snapshot;

void hw_violation(const char *format, ...)
{
    char line[1024];
    va_list args;
    int length;

    va_start(args, format);
    length = vsnprintf(line, sizeof(line), format, args);
    va_end(args);
    if (length < 0)
    {
        return;
    }
    pthread_mutex_lock(&g_violation_mutex);
    hw_text_append(&g_violations, "%s\n", line);
    g_violation_count++;
    pthread_mutex_unlock(&g_violation_mutex);
    hw_log("VIOLATION: %s", line);
}

/* -- fault injection ------------------------------------------------------------------------- */

typedef struct _HW_FAULT
{
    int Api;
    uint32_t Remaining; /* calls until the failing one, that one included */
    NTSTATUS Status;
} HW_FAULT;

#define HW_MAX_FAULTS 64

static pthread_mutex_t g_fault_mutex = PTHREAD_MUTEX_INITIALIZER;
static HW_FAULT g_faults[HW_MAX_FAULTS];
static uint32_t g_fault_count; /* read with a relaxed atomic load on the hot path */

static BOOLEAN hw_fault_take(HW_API api, NTSTATUS *status)
{
    BOOLEAN fire = FALSE;
    uint32_t i;

    if (__atomic_load_n(&g_fault_count, __ATOMIC_RELAXED) == 0)
    {
        return FALSE;
    }
    pthread_mutex_lock(&g_fault_mutex);
    for (i = 0; i < g_fault_count; i++)
    {
        if (g_faults[i].Api != (int)api)
        {
            continue;
        }
        if (g_faults[i].Remaining > 1)
        {
            g_faults[i].Remaining--;
            continue;
        }
        if (fire)
        {
            continue; /* two faults due on the same call: this one takes the next call */
        }
        fire = TRUE;
        *status = g_faults[i].Status;
        g_faults[i] = g_faults[g_fault_count - 1];
        __atomic_store_n(&g_fault_count, g_fault_count - 1, __ATOMIC_RELAXED);
        i--;
    }
    pthread_mutex_unlock(&g_fault_mutex);
    return fire;
}

void HostWdk_FailCall(const char *api, uint32_t nth, int32_t status)
{
    int index = hw_api_lookup(api);

    if (index < 0 || nth == 0 || !(g_apis[index].Flags & (HW_F_STATUS | HW_F_NULL)))
    {
        hw_log("HostWdk_FailCall(%s, %u): that routine cannot fail; ignored", api ? api : "(null)", nth);
        return;
    }
    pthread_mutex_lock(&g_fault_mutex);
    if (g_fault_count < HW_MAX_FAULTS)
    {
        g_faults[g_fault_count].Api = index;
        g_faults[g_fault_count].Remaining = nth;
        g_faults[g_fault_count].Status = status;
        __atomic_store_n(&g_fault_count, g_fault_count + 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&g_fault_mutex);
}

int32_t HostWdk_CanFail(const char *api)
{
    int index = hw_api_lookup(api);

    if (index < 0)
    {
        return -1;
    }
    return (g_apis[index].Flags & (HW_F_STATUS | HW_F_NULL)) ? 1 : 0;
}

BOOLEAN hw_api_enter(HW_API api, NTSTATUS *fail)
{
    HW_THREAD *thread = hw_thread();
    const HW_API_INFO *info = &g_apis[api];

    __atomic_fetch_add(&g_call_counts[api], 1, __ATOMIC_RELAXED);
    if (thread->Irql > info->MaxIrql)
    {
        hw_violation("%s called at %s (IRQL %u) from %s; it requires IRQL <= %s", info->Name,
                     hw_irql_name(thread->Irql), (unsigned)thread->Irql, thread->Context,
                     hw_irql_name(info->MaxIrql));
        if (info->Flags & (HW_F_STATUS | HW_F_NULL))
        {
            *fail = STATUS_UNSUCCESSFUL;
            return TRUE;
        }
    }
    if ((info->Flags & (HW_F_STATUS | HW_F_NULL)) && hw_fault_take(api, fail))
    {
        hw_log("%s: injected failure 0x%08X", info->Name, (unsigned)*fail);
        return TRUE;
    }
    return FALSE;
}

/* Counting only: the spin-lock routines check their IRQL rules themselves. The bench build
 * counts nothing on these paths: a counter every processor increments is one cache line they
 * all write, which would measure the runtime, not the driver. */
#ifndef HOSTWDK_BENCH
static void hw_api_count(HW_API api)
{
    __atomic_fetch_add(&g_call_counts[api], 1, __ATOMIC_RELAXED);
}
#else
static inline void hw_api_count(HW_API api)
{
    (void)api;
}
#endif

/* -- strings and GUIDs ----------------------------------------------------------------------- */

BOOLEAN hw_unicode_to_ascii(const char *api, PCUNICODE_STRING text, char *out, size_t size)
{
    size_t count;
    size_t i;

    out[0] = '\0';
    if (text == NULL)
    {
        hw_violation("%s: NULL UNICODE_STRING", api);
        return FALSE;
    }
    if ((text->Length & 1u) != 0 || text->Length > text->MaximumLength || (text->Length > 0 && text->Buffer == NULL))
    {
        hw_violation("%s: malformed UNICODE_STRING (Length %u, MaximumLength %u, Buffer %p)", api,
                     (unsigned)text->Length, (unsigned)text->MaximumLength, (void *)text->Buffer);
        return FALSE;
    }
    count = text->Length / sizeof(WCHAR);
    if (count + 1 > size)
    {
        count = size - 1;
    }
    for (i = 0; i < count; i++)
    {
        unsigned int c = (unsigned int)text->Buffer[i];

        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[count] = '\0';
    return TRUE;
}

const char *hw_guid_text(const GUID *guid, char out[37])
{
    if (guid == NULL)
    {
        snprintf(out, 37, "(null)");
        return out;
    }
    snprintf(out, 37, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned)guid->Data1,
             (unsigned)guid->Data2, (unsigned)guid->Data3, guid->Data4[0], guid->Data4[1], guid->Data4[2],
             guid->Data4[3], guid->Data4[4], guid->Data4[5], guid->Data4[6], guid->Data4[7]);
    return out;
}

BOOLEAN hw_guid_equal(const GUID *a, const GUID *b)
{
    return memcmp(a, b, sizeof(GUID)) == 0;
}

BOOLEAN hw_guid_is_null(const GUID *guid)
{
    static const GUID zero;

    return hw_guid_equal(guid, &zero);
}

/* -- IRQL ------------------------------------------------------------------------------------ */

KIRQL KeGetCurrentIrql(VOID)
{
    hw_api_count(HW_API_KeGetCurrentIrql);
    return hw_thread()->Irql;
}

/* -- processors -------------------------------------------------------------------------------- */

#define HW_GROUP_SIZE 64u

static uint32_t g_processor_count = 1; /* atomic (relaxed) */

void HostWdk_SetProcessorCount(uint32_t count)
{
    __atomic_store_n(&g_processor_count, count == 0 ? 1u : count, __ATOMIC_RELAXED);
}

#ifndef HOSTWDK_BENCH
void HostWdk_SetCurrentProcessor(uint32_t index)
{
    hw_thread()->Processor = index;
}
#endif

ULONG KeQueryActiveProcessorCountEx(USHORT GroupNumber)
{
    uint32_t count = __atomic_load_n(&g_processor_count, __ATOMIC_RELAXED);
    uint32_t first = (uint32_t)GroupNumber * HW_GROUP_SIZE;

    hw_api_count(HW_API_KeQueryActiveProcessorCountEx);
    if (GroupNumber == ALL_PROCESSOR_GROUPS)
    {
        return count;
    }
    if (first >= count)
    {
        return 0;
    }
    return count - first < HW_GROUP_SIZE ? count - first : HW_GROUP_SIZE;
}

#ifndef HOSTWDK_BENCH
ULONG KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER ProcNumber)
{
    uint32_t index = hw_thread()->Processor;

    hw_api_count(HW_API_KeGetCurrentProcessorNumberEx);
    if (ProcNumber != NULL)
    {
        ProcNumber->Group = (USHORT)(index / HW_GROUP_SIZE);
        ProcNumber->Number = (UCHAR)(index % HW_GROUP_SIZE);
        ProcNumber->Reserved = 0;
    }
    return index;
}
#endif

VOID HostWdkCheckPagedCode(PCSTR Function)
{
    HW_THREAD *thread = hw_thread();

    hw_api_count(HW_API_HostWdkCheckPagedCode);
    if (thread->Irql > APC_LEVEL)
    {
        hw_violation("PAGED_CODE() in %s reached at %s (IRQL %u) from %s: pageable code must run at IRQL <= "
                     "APC_LEVEL",
                     Function ? Function : "?", hw_irql_name(thread->Irql), (unsigned)thread->Irql, thread->Context);
    }
}

VOID HostWdkAssertFailed(PCSTR Message, PCSTR Expression, PCSTR File, int Line, PCSTR Function)
{
    const char *base = File != NULL ? strrchr(File, '/') : NULL;

    hw_api_count(HW_API_HostWdkAssertFailed);
    hw_violation("%s%sNT_ASSERT(%s) failed in %s (%s:%d) from %s", Message ? Message : "", Message ? ": " : "",
                 Expression ? Expression : "?", Function ? Function : "?", base ? base + 1 : (File ? File : "?"),
                 Line, hw_thread()->Context);
}

/* -- spin locks -------------------------------------------------------------------------------
 * The bench build's are in bench.c.
 * One real pthread mutex per KSPIN_LOCK address, in an open-addressing table whose slots are
 * claimed with a compare-and-swap and never released (a lock at the same address reuses its
 * slot).  Owner and recursion depth are tracked for the rule checks. */

#ifndef HOSTWDK_BENCH

#define HW_LOCK_SLOTS 2048u

typedef struct _HW_LOCK_SLOT
{
    uintptr_t Key;   /* atomic: the KSPIN_LOCK address, 0 = free */
    uint32_t Ready;  /* atomic: Mutex initialised */
    uint64_t Owner;  /* atomic (relaxed): holder's thread id, 0 = free */
    uint32_t Depth;  /* recursive acquisitions refused on top of the real one (owner only) */
    uint64_t Since;  /* owner only: the holder's CPU time (ns) when it acquired the lock */
    uint64_t Copied; /* owner only: the holder's HW_THREAD.Copied when it acquired the lock */
    pthread_mutex_t Mutex;
} HW_LOCK_SLOT;

/* The longest hold of any spin lock, in the holder's CPU time: a thread preempted while it holds
 * the lock (which the host allows and Windows, at DISPATCH_LEVEL, does not) is not charged. */
static pthread_mutex_t g_hold_mutex = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_hold_longest; /* atomic (relaxed) for the fast comparison; written under g_hold_mutex */
static uint64_t g_hold_count;   /* atomic (relaxed) */
static uint64_t g_hold_bytes;   /* the most bytes copied in one hold; written under g_hold_mutex */
static char g_hold_context[48];  /* under g_hold_mutex */

static uint64_t hw_thread_cpu_ns(void)
{
    struct timespec now;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static void hw_hold_record(uint64_t since, uint64_t copied, const char *context)
{
    uint64_t held = hw_thread_cpu_ns() - since;

    __atomic_add_fetch(&g_hold_count, 1, __ATOMIC_RELAXED);
    if (copied > __atomic_load_n(&g_hold_bytes, __ATOMIC_RELAXED))
    {
        pthread_mutex_lock(&g_hold_mutex);
        if (copied > g_hold_bytes)
        {
            __atomic_store_n(&g_hold_bytes, copied, __ATOMIC_RELAXED);
        }
        pthread_mutex_unlock(&g_hold_mutex);
    }
    if (held <= __atomic_load_n(&g_hold_longest, __ATOMIC_RELAXED))
    {
        return;
    }
    pthread_mutex_lock(&g_hold_mutex);
    if (held > __atomic_load_n(&g_hold_longest, __ATOMIC_RELAXED))
    {
        __atomic_store_n(&g_hold_longest, held, __ATOMIC_RELAXED);
        snprintf(g_hold_context, sizeof(g_hold_context), "%s", context ? context : "?");
    }
    pthread_mutex_unlock(&g_hold_mutex);
}

void HostWdk_GetLockHolds(HOSTWDK_LOCK_HOLDS *holds)
{
    if (holds == NULL)
    {
        return;
    }
    pthread_mutex_lock(&g_hold_mutex);
    holds->longest_ns = __atomic_load_n(&g_hold_longest, __ATOMIC_RELAXED);
    holds->holds = __atomic_load_n(&g_hold_count, __ATOMIC_RELAXED);
    holds->most_bytes = g_hold_bytes;
    snprintf(holds->context, sizeof(holds->context), "%s", g_hold_context);
    pthread_mutex_unlock(&g_hold_mutex);
}

void HostWdk_ResetLockHolds(void)
{
    pthread_mutex_lock(&g_hold_mutex);
    __atomic_store_n(&g_hold_longest, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_hold_count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_hold_bytes, 0, __ATOMIC_RELAXED);
    g_hold_context[0] = '\0';
    pthread_mutex_unlock(&g_hold_mutex);
}

static HW_LOCK_SLOT g_locks[HW_LOCK_SLOTS];

static HW_LOCK_SLOT *hw_lock_slot(PKSPIN_LOCK lock)
{
    uintptr_t key = (uintptr_t)lock;
    uint32_t start = (uint32_t)((key >> 3) * 2654435761u) & (HW_LOCK_SLOTS - 1u);
    uint32_t probe;

    for (probe = 0; probe < HW_LOCK_SLOTS; probe++)
    {
        HW_LOCK_SLOT *slot = &g_locks[(start + probe) & (HW_LOCK_SLOTS - 1u)];
        uintptr_t current = __atomic_load_n(&slot->Key, __ATOMIC_ACQUIRE);

        if (current == 0)
        {
            uintptr_t expected = 0;

            if (__atomic_compare_exchange_n(&slot->Key, &expected, key, FALSE, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            {
                pthread_mutex_init(&slot->Mutex, NULL);
                __atomic_store_n(&slot->Ready, 1, __ATOMIC_RELEASE);
                return slot;
            }
            current = expected;
        }
        if (current == key)
        {
            while (__atomic_load_n(&slot->Ready, __ATOMIC_ACQUIRE) == 0)
            {
                sched_yield();
            }
            return slot;
        }
    }
    hw_violation("more than %u distinct spin lock addresses: the host runtime's lock table is full",
                 HW_LOCK_SLOTS);
    abort();
}

static void hw_lock_acquire(PKSPIN_LOCK lock, KIRQL old_irql, BOOLEAN queued, const char *api)
{
    HW_THREAD *thread = hw_thread();
    HW_LOCK_SLOT *slot;

    if (lock == NULL)
    {
        hw_violation("%s(NULL)", api);
        return;
    }
    slot = hw_lock_slot(lock);
    if (__atomic_load_n(&slot->Owner, __ATOMIC_RELAXED) == thread->Id)
    {
        hw_violation("%s: spin lock %p acquired again by the thread that holds it (deadlock on Windows)", api,
                     (void *)lock);
        slot->Depth++;
    }
    else
    {
        pthread_mutex_lock(&slot->Mutex);
        __atomic_store_n(&slot->Owner, thread->Id, __ATOMIC_RELAXED);
        slot->Since = hw_thread_cpu_ns();
        slot->Copied = thread->Copied;
    }
    if (thread->HeldCount < HW_MAX_HELD)
    {
        thread->Held[thread->HeldCount].Lock = lock;
        thread->Held[thread->HeldCount].OldIrql = old_irql;
        thread->Held[thread->HeldCount].Queued = queued;
        thread->HeldCount++;
    }
}

/* Returns FALSE when the lock was not held by this thread (a violation is recorded). */
static BOOLEAN hw_lock_release(PKSPIN_LOCK lock, BOOLEAN queued, const char *api)
{
    HW_THREAD *thread = hw_thread();
    HW_LOCK_SLOT *slot;
    uint64_t owner;
    uint32_t i;

    if (lock == NULL)
    {
        hw_violation("%s(NULL)", api);
        return FALSE;
    }
    slot = hw_lock_slot(lock);
    owner = __atomic_load_n(&slot->Owner, __ATOMIC_RELAXED);
    if (owner == 0)
    {
        hw_violation("%s: spin lock %p released but it is not held", api, (void *)lock);
        return FALSE;
    }
    if (owner != thread->Id)
    {
        hw_violation("%s: spin lock %p released by a thread that does not hold it", api, (void *)lock);
        return FALSE;
    }
    for (i = thread->HeldCount; i > 0; i--)
    {
        if (thread->Held[i - 1].Lock == lock)
        {
            if (thread->Held[i - 1].Queued != queued)
            {
                hw_violation("%s: spin lock %p was acquired with %s", api, (void *)lock,
                             thread->Held[i - 1].Queued ? "KeAcquireInStackQueuedSpinLock" : "KeAcquireSpinLock");
            }
            memmove(&thread->Held[i - 1], &thread->Held[i], (thread->HeldCount - i) * sizeof(HW_HELD));
            thread->HeldCount--;
            break;
        }
    }
    if (slot->Depth > 0)
    {
        slot->Depth--;
        return TRUE;
    }
    hw_hold_record(slot->Since, thread->Copied - slot->Copied, thread->Context);
    __atomic_store_n(&slot->Owner, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&slot->Mutex);
    return TRUE;
}

void hw_release_thread_locks(void)
{
    HW_THREAD *thread = hw_thread();

    while (thread->HeldCount > 0)
    {
        PKSPIN_LOCK lock = thread->Held[thread->HeldCount - 1].Lock;
        HW_LOCK_SLOT *slot = hw_lock_slot(lock);

        thread->HeldCount--;
        if (slot->Depth > 0)
        {
            slot->Depth--;
            continue;
        }
        __atomic_store_n(&slot->Owner, 0, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&slot->Mutex);
    }
}

BOOLEAN hw_lock_held_in(const void *start, size_t size, PKSPIN_LOCK *which)
{
    uintptr_t low = (uintptr_t)start;
    uint32_t i;

    for (i = 0; i < HW_LOCK_SLOTS; i++)
    {
        uintptr_t key = __atomic_load_n(&g_locks[i].Key, __ATOMIC_ACQUIRE);

        if (key >= low && key < low + size && __atomic_load_n(&g_locks[i].Owner, __ATOMIC_RELAXED) != 0)
        {
            *which = (PKSPIN_LOCK)key;
            return TRUE;
        }
    }
    return FALSE;
}

uint32_t hw_locks_held_total(void)
{
    uint32_t held = 0;
    uint32_t i;

    for (i = 0; i < HW_LOCK_SLOTS; i++)
    {
        if (__atomic_load_n(&g_locks[i].Key, __ATOMIC_ACQUIRE) != 0 &&
            __atomic_load_n(&g_locks[i].Owner, __ATOMIC_RELAXED) != 0)
        {
            held++;
        }
    }
    return held;
}

KIRQL KeAcquireSpinLockRaiseToDpc(PKSPIN_LOCK SpinLock)
{
    HW_THREAD *thread = hw_thread();
    KIRQL old = thread->Irql;

    hw_api_count(HW_API_KeAcquireSpinLockRaiseToDpc);
    if (old > DISPATCH_LEVEL)
    {
        hw_violation("KeAcquireSpinLock at %s (IRQL %u) from %s: it requires IRQL <= DISPATCH_LEVEL",
                     hw_irql_name(old), (unsigned)old, thread->Context);
    }
    thread->Irql = DISPATCH_LEVEL;
    hw_lock_acquire(SpinLock, old, FALSE, "KeAcquireSpinLock");
    return old;
}

VOID KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql)
{
    HW_THREAD *thread = hw_thread();

    hw_api_count(HW_API_KeReleaseSpinLock);
    if (thread->Irql != DISPATCH_LEVEL)
    {
        hw_violation("KeReleaseSpinLock at %s (IRQL %u) from %s: it requires DISPATCH_LEVEL",
                     hw_irql_name(thread->Irql), (unsigned)thread->Irql, thread->Context);
    }
    if (NewIrql > DISPATCH_LEVEL)
    {
        hw_violation("KeReleaseSpinLock(%p, %u): the IRQL to restore is above DISPATCH_LEVEL", (void *)SpinLock,
                     (unsigned)NewIrql);
    }
    hw_lock_release(SpinLock, FALSE, "KeReleaseSpinLock");
    thread->Irql = NewIrql;
}

VOID KeAcquireInStackQueuedSpinLock(PKSPIN_LOCK SpinLock, PKLOCK_QUEUE_HANDLE LockHandle)
{
    HW_THREAD *thread = hw_thread();
    KIRQL old = thread->Irql;

    hw_api_count(HW_API_KeAcquireInStackQueuedSpinLock);
    if (LockHandle == NULL)
    {
        hw_violation("KeAcquireInStackQueuedSpinLock(%p, NULL)", (void *)SpinLock);
        return;
    }
    if (old > DISPATCH_LEVEL)
    {
        hw_violation("KeAcquireInStackQueuedSpinLock at %s (IRQL %u) from %s: it requires IRQL <= "
                     "DISPATCH_LEVEL",
                     hw_irql_name(old), (unsigned)old, thread->Context);
    }
    thread->Irql = DISPATCH_LEVEL;
    hw_lock_acquire(SpinLock, old, TRUE, "KeAcquireInStackQueuedSpinLock");
    LockHandle->LockQueue.Next = NULL;
    LockHandle->LockQueue.Lock = SpinLock;
    LockHandle->OldIrql = old;
}

VOID KeReleaseInStackQueuedSpinLock(PKLOCK_QUEUE_HANDLE LockHandle)
{
    HW_THREAD *thread = hw_thread();
    PKSPIN_LOCK lock;

    hw_api_count(HW_API_KeReleaseInStackQueuedSpinLock);
    if (LockHandle == NULL || LockHandle->LockQueue.Lock == NULL)
    {
        hw_violation("KeReleaseInStackQueuedSpinLock with a lock handle that holds no lock (released twice?)");
        return;
    }
    if (thread->Irql != DISPATCH_LEVEL)
    {
        hw_violation("KeReleaseInStackQueuedSpinLock at %s (IRQL %u) from %s: it requires DISPATCH_LEVEL",
                     hw_irql_name(thread->Irql), (unsigned)thread->Irql, thread->Context);
    }
    lock = LockHandle->LockQueue.Lock;
    LockHandle->LockQueue.Lock = NULL;
    hw_lock_release(lock, TRUE, "KeReleaseInStackQueuedSpinLock");
    thread->Irql = LockHandle->OldIrql;
}

/* RtlCopyMemory of the checking builds: memcpy, counting what is copied under a spin lock. */
void *HostWdk_CopyMemory(void *Destination, const void *Source, size_t Length)
{
    HW_THREAD *thread = hw_thread();

    if (thread->HeldCount > 0)
    {
        thread->Copied += Length;
    }
    return memcpy(Destination, Source, Length);
}

#endif /* HOSTWDK_BENCH */

/* -- pool -------------------------------------------------------------------------------------
 * Every block is a malloc'd block of exactly the requested size, so AddressSanitizer sees
 * overflows; a chained hash table maps it to its tag and size. */

typedef struct _HW_BLOCK
{
    void *Address;
    size_t Size;
    ULONG Tag;
    HW_API Api;
    struct _HW_BLOCK *Next;
} HW_BLOCK;

#define HW_POOL_BUCKETS 1024u
#define HW_RECENT_FREES 256u

static pthread_mutex_t g_pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static HW_BLOCK *g_pool[HW_POOL_BUCKETS];
static uint32_t g_pool_blocks;
static uint64_t g_pool_bytes;
static const void *g_recent_frees[HW_RECENT_FREES];
static uint32_t g_recent_free_next;

static uint32_t hw_pool_bucket(const void *address)
{
    return (uint32_t)(((uintptr_t)address >> 4) * 2654435761u) & (HW_POOL_BUCKETS - 1u);
}

static void hw_tag_text(ULONG tag, char out[5])
{
    int i;

    for (i = 0; i < 4; i++)
    {
        unsigned char c = (unsigned char)(tag >> (8 * i));

        out[i] = isprint(c) ? (char)c : '.';
    }
    out[4] = '\0';
}

static PVOID hw_pool_allocate(HW_API api, size_t size, ULONG tag, BOOLEAN zero)
{
    HW_BLOCK *block = malloc(sizeof(*block));
    void *address = malloc(size ? size : 1);
    uint32_t bucket;

    if (block == NULL || address == NULL)
    {
        free(block);
        free(address);
        return NULL;
    }
    if (zero)
    {
        memset(address, 0, size);
    }
    else
    {
        memset(address, 0xCD, size); /* like a debug pool: uninitialised pool is not zero */
    }
    block->Address = address;
    block->Size = size;
    block->Tag = tag;
    block->Api = api;
    bucket = hw_pool_bucket(address);
    pthread_mutex_lock(&g_pool_mutex);
    block->Next = g_pool[bucket];
    g_pool[bucket] = block;
    g_pool_blocks++;
    g_pool_bytes += size;
    pthread_mutex_unlock(&g_pool_mutex);
    return address;
}

#define HW_POOL_FLAG_UNINITIALIZED     0x0000000000000002ULL
#define HW_POOL_FLAG_NON_PAGED_EXECUTE 0x0000000000000080ULL
#define HW_POOL_FLAG_PAGED             0x0000000000000100ULL

PVOID ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag)
{
    NTSTATUS fail;
    PVOID address;
    char tag[5];

    hw_tag_text(Tag, tag);
    if (hw_api_enter(HW_API_ExAllocatePool2, &fail))
    {
        hw_log_api(HW_API_ExAllocatePool2, "ExAllocatePool2(0x%llx, %llu, '%s') -> NULL (failure injected)",
                   (unsigned long long)Flags, (unsigned long long)NumberOfBytes, tag);
        return NULL;
    }
    if ((Flags & (POOL_FLAG_NON_PAGED | HW_POOL_FLAG_NON_PAGED_EXECUTE | HW_POOL_FLAG_PAGED)) == 0)
    {
        hw_violation("ExAllocatePool2(0x%llx, %llu, '%s'): no pool type flag (POOL_FLAG_NON_PAGED, ...)",
                     (unsigned long long)Flags, (unsigned long long)NumberOfBytes, tag);
        return NULL;
    }
    if ((Flags & HW_POOL_FLAG_PAGED) && hw_thread()->Irql > APC_LEVEL)
    {
        hw_violation("ExAllocatePool2(POOL_FLAG_PAGED) at IRQL %u from %s", (unsigned)hw_thread()->Irql,
                     hw_thread()->Context);
    }
    if (Tag == 0)
    {
        hw_violation("ExAllocatePool2 with pool tag 0");
    }
    address = hw_pool_allocate(HW_API_ExAllocatePool2, NumberOfBytes, Tag,
                               (Flags & HW_POOL_FLAG_UNINITIALIZED) == 0);
    hw_log_api(HW_API_ExAllocatePool2, "ExAllocatePool2(0x%llx, %llu, '%s') -> %p", (unsigned long long)Flags,
               (unsigned long long)NumberOfBytes, tag, address);
    return address;
}

PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag)
{
    NTSTATUS fail;
    PVOID address;
    char tag[5];
    int base = (int)PoolType & ~(int)(NonPagedPoolNx | NonPagedPoolSession);

    hw_tag_text(Tag, tag);
    if (hw_api_enter(HW_API_ExAllocatePoolWithTag, &fail))
    {
        hw_log_api(HW_API_ExAllocatePoolWithTag, "ExAllocatePoolWithTag(%d, %llu, '%s') -> NULL (failure injected)",
                   (int)PoolType, (unsigned long long)NumberOfBytes, tag);
        return NULL;
    }
    if ((base & 1) != 0 && hw_thread()->Irql > APC_LEVEL) /* odd base types are paged */
    {
        hw_violation("ExAllocatePoolWithTag(paged pool type %d) at IRQL %u from %s", (int)PoolType,
                     (unsigned)hw_thread()->Irql, hw_thread()->Context);
    }
    if (Tag == 0)
    {
        hw_violation("ExAllocatePoolWithTag with pool tag 0");
    }
    address = hw_pool_allocate(HW_API_ExAllocatePoolWithTag, NumberOfBytes, Tag, FALSE);
    hw_log_api(HW_API_ExAllocatePoolWithTag, "ExAllocatePoolWithTag(%d, %llu, '%s') -> %p", (int)PoolType,
               (unsigned long long)NumberOfBytes, tag, address);
    return address;
}

VOID ExFreePoolWithTag(PVOID P, ULONG Tag)
{
    NTSTATUS fail;
    HW_BLOCK **link;
    HW_BLOCK *block = NULL;
    BOOLEAN recent = FALSE;
    PKSPIN_LOCK held;
    char tag[5];
    char block_tag[5];
    uint32_t i;

    hw_tag_text(Tag, tag);
    (void)hw_api_enter(HW_API_ExFreePoolWithTag, &fail);
    hw_log_api(HW_API_ExFreePoolWithTag, "ExFreePoolWithTag(%p, '%s')", P, tag);
    if (P == NULL)
    {
        hw_violation("ExFreePoolWithTag(NULL, '%s') (bug check on Windows)", tag);
        return;
    }
    pthread_mutex_lock(&g_pool_mutex);
    for (link = &g_pool[hw_pool_bucket(P)]; *link != NULL; link = &(*link)->Next)
    {
        if ((*link)->Address == P)
        {
            block = *link;
            *link = block->Next;
            g_pool_blocks--;
            g_pool_bytes -= block->Size;
            g_recent_frees[g_recent_free_next++ % HW_RECENT_FREES] = P;
            break;
        }
    }
    if (block == NULL)
    {
        for (i = 0; i < HW_RECENT_FREES; i++)
        {
            if (g_recent_frees[i] == P)
            {
                recent = TRUE;
            }
        }
    }
    pthread_mutex_unlock(&g_pool_mutex);
    if (block == NULL)
    {
        hw_violation(recent ? "ExFreePoolWithTag(%p, '%s'): double free (the block was already freed)"
                            : "ExFreePoolWithTag(%p, '%s'): not a pool block (never allocated, or already freed)",
                     P, tag);
        return;
    }
    if (block->Tag != Tag)
    {
        hw_tag_text(block->Tag, block_tag);
        hw_violation("ExFreePoolWithTag(%p, '%s'): the block was allocated with tag '%s'", P, tag, block_tag);
    }
    if (hw_lock_held_in(block->Address, block->Size, &held))
    {
        hw_violation("ExFreePoolWithTag(%p): the block holds spin lock %p, which is still held", P, (void *)held);
    }
    free(block->Address);
    free(block);
}

void hw_pool_counters(uint32_t *blocks, uint64_t *bytes)
{
    pthread_mutex_lock(&g_pool_mutex);
    *blocks = g_pool_blocks;
    *bytes = g_pool_bytes;
    pthread_mutex_unlock(&g_pool_mutex);
}

void hw_pool_audit(const char *prefix)
{
    enum
    {
        HW_REPORT = 16
    };
    char lines[HW_REPORT][160];
    uint32_t reported = 0;
    uint32_t i;
    HW_BLOCK *block;
    char tag[5];

    pthread_mutex_lock(&g_pool_mutex);
    for (i = 0; i < HW_POOL_BUCKETS; i++)
    {
        for (block = g_pool[i]; block != NULL; block = block->Next)
        {
            if (reported < HW_REPORT)
            {
                hw_tag_text(block->Tag, tag);
                snprintf(lines[reported], sizeof(lines[reported]), "pool block %p (%llu bytes, tag '%s', from %s)",
                         block->Address, (unsigned long long)block->Size, tag, hw_api_name(block->Api));
            }
            reported++;
        }
    }
    pthread_mutex_unlock(&g_pool_mutex);
    for (i = 0; i < reported && i < HW_REPORT; i++)
    {
        hw_violation("%s%s was never freed (leak)", prefix, lines[i]);
    }
    if (reported > HW_REPORT)
    {
        hw_violation("%s... and %u more pool blocks were never freed", prefix, reported - HW_REPORT);
    }
}

void hw_pool_reset(void)
{
    uint32_t i;

    pthread_mutex_lock(&g_pool_mutex);
    for (i = 0; i < HW_POOL_BUCKETS; i++)
    {
        while (g_pool[i] != NULL)
        {
            HW_BLOCK *block = g_pool[i];

            g_pool[i] = block->Next;
            free(block->Address);
            free(block);
        }
    }
    g_pool_blocks = 0;
    g_pool_bytes = 0;
    memset(g_recent_frees, 0, sizeof(g_recent_frees));
    g_recent_free_next = 0;
    pthread_mutex_unlock(&g_pool_mutex);
}

/* -- time, process, debug output --------------------------------------------------------------- */

/* 100-ns intervals between 1601-01-01 and 1970-01-01. */
#define HW_EPOCH_DIFFERENCE 116444736000000000LL

/* What HostWdk_AdvanceClock added: the system time runs this far ahead of the host's clock. */
static int64_t g_clock_offset;

void HostWdk_AdvanceClock(int64_t units)
{
    __atomic_add_fetch(&g_clock_offset, units, __ATOMIC_SEQ_CST);
}

static void hw_system_time(PLARGE_INTEGER CurrentTime)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    CurrentTime->QuadPart = HW_EPOCH_DIFFERENCE + (LONGLONG)now.tv_sec * 10000000LL + (LONGLONG)(now.tv_nsec / 100) +
                            __atomic_load_n(&g_clock_offset, __ATOMIC_RELAXED);
}

int64_t HostWdk_SystemTime(void)
{
    LARGE_INTEGER now;

    hw_system_time(&now);
    return now.QuadPart;
}

VOID KeQuerySystemTimePrecise(PLARGE_INTEGER CurrentTime)
{
    hw_api_count(HW_API_KeQuerySystemTimePrecise);
    hw_system_time(CurrentTime);
}

VOID KeQuerySystemTime(PLARGE_INTEGER CurrentTime)
{
    hw_api_count(HW_API_KeQuerySystemTime);
    hw_system_time(CurrentTime);
}

NTSTATUS KeDelayExecutionThread(KPROCESSOR_MODE WaitMode, BOOLEAN Alertable, PLARGE_INTEGER Interval)
{
    struct timespec pause;
    LONGLONG units;
    NTSTATUS status;

    if (hw_api_enter(HW_API_KeDelayExecutionThread, &status))
    {
        return status;
    }
    if (WaitMode != KernelMode || Interval == NULL)
    {
        hw_violation("KeDelayExecutionThread(%d, %d, %p): a driver waits in KernelMode with an interval",
                     (int)WaitMode, (int)Alertable, (void *)Interval);
        return STATUS_INVALID_PARAMETER;
    }
    /* Negative: relative, in 100-ns units; positive: an absolute system time. */
    units = Interval->QuadPart;
    if (units >= 0)
    {
        LARGE_INTEGER now;

        hw_system_time(&now);
        units = now.QuadPart - units;
        units = units < 0 ? units : 0;
    }
    units = -units;
    pause.tv_sec = (time_t)(units / 10000000LL);
    pause.tv_nsec = (long)(units % 10000000LL) * 100L;
    hw_log_api(HW_API_KeDelayExecutionThread, "KeDelayExecutionThread(%lld00 ns)", (long long)units);
    nanosleep(&pause, NULL);
    return STATUS_SUCCESS;
}

HANDLE PsGetCurrentProcessId(VOID)
{
    hw_api_count(HW_API_PsGetCurrentProcessId);
    return (HANDLE)(uintptr_t)hw_thread()->ProcessId;
}

/* Whether a conversion in `format` has a length or type letter that glibc reads differently. */
static BOOLEAN hw_windows_only_format(const char *format)
{
    const char *p;

    for (p = strchr(format, '%'); p != NULL; p = strchr(p, '%'))
    {
        p++;
        if (*p == '%')
        {
            p++;
            continue;
        }
        while (*p != '\0' && strchr("-+ #0123456789.*", *p) != NULL)
        {
            p++;
        }
        if (*p == 'w' || *p == 'I' || *p == 'Z' || *p == 'S' || *p == 'C')
        {
            return TRUE;
        }
    }
    return FALSE;
}

/* No format attribute on purpose (see hostwdk.h): the text goes to the call log only. */
ULONG DbgPrintEx(ULONG ComponentId, ULONG Level, PCSTR Format, ...)
{
    NTSTATUS fail;
    char text[768];
    va_list args;
    size_t length;

    (void)hw_api_enter(HW_API_DbgPrintEx, &fail);
    if (Format == NULL)
    {
        hw_violation("DbgPrintEx with a NULL format");
        return (ULONG)STATUS_INVALID_PARAMETER;
    }
    if (hw_windows_only_format(Format))
    {
        /* %ws, %wZ, %Z, %S, %C, %I64u have no glibc meaning: log the format itself. */
        snprintf(text, sizeof(text), "%s (arguments not formatted: Windows-only conversion)", Format);
    }
    else
    {
        va_start(args, Format);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        vsnprintf(text, sizeof(text), Format, args);
#pragma GCC diagnostic pop
        va_end(args);
    }
    length = strlen(text);
    if (length > 511)
    {
        /* DbgPrint and DbgPrintEx transmit at most 512 bytes: the rest of a longer line is lost. */
        hw_violation("DbgPrintEx output of %zu bytes: at most 511 and the NUL are transmitted", length);
    }
    while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == '\r'))
    {
        text[--length] = '\0';
    }
    hw_log_api(HW_API_DbgPrintEx, "DbgPrintEx(%u, %u): %s", (unsigned)ComponentId, (unsigned)Level, text);
    return (ULONG)STATUS_SUCCESS;
}

/* -- test hooks: reset, counts, log, violations, counters ---------------------------------------- */

static pthread_mutex_t g_hook_mutex = PTHREAD_MUTEX_INITIALIZER;
static HW_TEXT g_counts_snapshot;

void HostWdk_Reset(void)
{
    uint32_t i;

    hw_io_reset();
    hw_fwp_reset();
    hw_etw_reset();
    hw_pool_reset();
    hw_release_thread_locks();
    hw_thread()->Irql = PASSIVE_LEVEL;
    hw_thread()->Context = "harness";
    HostWdk_SetCurrentProcessor(0);
    __atomic_store_n(&g_processor_count, 1u, __ATOMIC_RELAXED);
    HostWdk_ResetLockHolds();
    __atomic_store_n(&g_clock_offset, 0, __ATOMIC_SEQ_CST);
    for (i = 0; i < HW_API_COUNT; i++)
    {
        __atomic_store_n(&g_call_counts[i], 0, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&g_log_used, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_log_truncated, 0, __ATOMIC_RELAXED);
    pthread_mutex_lock(&g_violation_mutex);
    hw_text_clear(&g_violations);
    g_violation_count = 0;
    pthread_mutex_unlock(&g_violation_mutex);
    pthread_mutex_lock(&g_fault_mutex);
    __atomic_store_n(&g_fault_count, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&g_fault_mutex);
}

const char *HostWdk_CallCounts(void)
{
    uint32_t i;

    pthread_mutex_lock(&g_hook_mutex);
    hw_text_clear(&g_counts_snapshot);
    for (i = 0; i < HW_API_COUNT; i++)
    {
        uint64_t count = __atomic_load_n(&g_call_counts[i], __ATOMIC_RELAXED);

        if (count > 0)
        {
            hw_text_append(&g_counts_snapshot, "%s %llu\n", g_apis[i].Name, (unsigned long long)count);
        }
    }
    pthread_mutex_unlock(&g_hook_mutex);
    return hw_text_get(&g_counts_snapshot);
}

const char *HostWdk_CallLog(void)
{
    uint64_t used = __atomic_load_n(&g_log_used, __ATOMIC_RELAXED);

    pthread_mutex_lock(&g_hook_mutex);
    if (used > HW_LOG_CAPACITY)
    {
        used = HW_LOG_CAPACITY;
    }
    hw_text_clear(&g_log_snapshot);
    hw_text_append(&g_log_snapshot, "%.*s", (int)used, g_log);
    if (__atomic_load_n(&g_log_truncated, __ATOMIC_RELAXED))
    {
        hw_text_append(&g_log_snapshot, "[runtime] (call log full: later lines were dropped)\n");
    }
    pthread_mutex_unlock(&g_hook_mutex);
    return hw_text_get(&g_log_snapshot);
}

const char *HostWdk_Violations(void)
{
    pthread_mutex_lock(&g_violation_mutex);
    hw_text_clear(&g_violation_snapshot);
    hw_text_append(&g_violation_snapshot, "%s", hw_text_get(&g_violations));
    pthread_mutex_unlock(&g_violation_mutex);
    return hw_text_get(&g_violation_snapshot);
}

uint32_t HostWdk_ViolationCount(void)
{
    uint32_t count;

    pthread_mutex_lock(&g_violation_mutex);
    count = g_violation_count;
    pthread_mutex_unlock(&g_violation_mutex);
    return count;
}

void HostWdk_GetCounters(HOSTWDK_COUNTERS *counters)
{
    if (counters == NULL)
    {
        return;
    }
    memset(counters, 0, sizeof(*counters));
    hw_fwp_counters(counters);
    hw_etw_counters(counters);
    hw_io_counters(counters);
    hw_pool_counters(&counters->pool_blocks, &counters->pool_bytes);
}

int32_t HostWdk_LayerId(const char *fwps_layer_name)
{
    char name[128];
    size_t length;
    size_t i;
    uint32_t j;

    if (fwps_layer_name == NULL)
    {
        return -1;
    }
    length = strlen(fwps_layer_name);
    if (length + sizeof("FWPS_LAYER_") >= sizeof(name))
    {
        return -1;
    }
    /* "FWPS_LAYER_ALE_AUTH_CONNECT_V4", or the catalog's "ale_auth_connect_v4". */
    if (strncmp(fwps_layer_name, "FWPS_LAYER_", 11) == 0)
    {
        memcpy(name, fwps_layer_name, length + 1);
    }
    else
    {
        memcpy(name, "FWPS_LAYER_", 11);
        for (i = 0; i <= length; i++)
        {
            name[11 + i] = (char)toupper((unsigned char)fwps_layer_name[i]);
        }
    }
    for (j = 0; j < HostWdkBuiltinLayerCount; j++)
    {
        if (strcmp(HostWdkBuiltinLayers[j].Name, name) == 0)
        {
            return (int32_t)HostWdkBuiltinLayers[j].LayerId;
        }
    }
    return -1;
}
