/*
 * The timed part of bench/classify_bench.py, compiled into the benchmark's shared library
 * together with a generated driver and the bench build of the host runtime (-O2,
 * HOSTWDK_BENCH).
 *
 * Worker threads are created once (Bench_Start), each pinned to its own CPU and playing one
 * simulated processor, and wait on a barrier. Bench_Run releases them together; each runs one
 * loop (the last of them to wake starts the others) and records its wall-clock interval, its own CPU time and the CPU it ran on at either end,
 * so the caller can tell whether the threads really ran in parallel. Two loops:
 *
 *   BENCH_CLASSIFY  the driver's classifyFn for FWPS_LAYER_INBOUND_TRANSPORT_V4, called
 *                   directly with the same values every time: nothing else is in the loop;
 *   BENCH_FLOOR     what no ring sink can avoid, for the same record: a timestamp
 *                   (KeQuerySystemTimePrecise), the ring's lock (the same runtime spin lock),
 *                   one copy of the record into a ring of the driver's ring size and the
 *                   head and used-bytes update, into a ring of the thread's own, emptied
 *                   between rounds by the caller's thread (Bench_FloorDrain) as a READ
 *                   empties the driver's;
 *   BENCH_TIMESTAMP the floor's timestamp alone, to show how much of both it is.
 *
 * With a rate, a loop is paced: once a millisecond it runs the events due in that millisecond,
 * then sleeps until the next one (for the end-to-end measurement, where a reader drains the device meanwhile).
 *
 * Defines (from the benchmark): CLASSIFY_FN, the classify function; RECORD_TYPE, its record;
 * FLOW_CONTEXT_TYPE, FLOW_PRESENT and FLOW_PATH for a driver with flows.attribution (the flowContext
 * passed: its process flags and the path it holds).
 */

#define _GNU_SOURCE

#include "driver.h"
#include "hostwdk_test.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_CLASSIFY 0
#define BENCH_FLOOR 1
#define BENCH_TIMESTAMP 2
#define BENCH_MAX_THREADS 64u
#define BENCH_PACE_PERIOD_NS 1000000u /* a paced loop runs once a millisecond */

typedef struct _BENCH_RESULT
{
    uint64_t StartNs; /* CLOCK_MONOTONIC */
    uint64_t EndNs;
    uint64_t CpuNs; /* the thread's own CPU time over the loop */
    uint64_t Events;
    int32_t CpuAtStart;
    int32_t CpuAtEnd;
} BENCH_RESULT;

/* The floor's ring: what a ring sink must touch per record, no more. */
typedef struct _BENCH_RING
{
    KSPIN_LOCK Lock;
    UINT8 *Buffer;
    UINT32 Capacity;
    UINT32 Head;
    UINT32 Used;
    UINT64 Dropped;
} BENCH_RING;

typedef struct _BENCH_WORKER
{
    pthread_t Thread;
    uint32_t Index;
    int32_t Cpu;
    BENCH_RING *Ring; /* its own allocation, apart from the other workers' */
    uint64_t Events;  /* this round's */
} BENCH_WORKER;

static BENCH_WORKER g_Workers[BENCH_MAX_THREADS];
static uint32_t g_Threads;
static pthread_barrier_t g_StartBarrier;
static pthread_barrier_t g_EndBarrier;

/* The job of the current round: written by Bench_Run before the start barrier. */
static int g_Mode;
static double g_RatePerThread;
static int g_Quit;
static uint32_t g_Arrived; /* atomic: workers past the start barrier this round */
static uint32_t g_Go;      /* atomic: the round number the workers may start */
static uint32_t g_Round;
static BENCH_RESULT g_Results[BENCH_MAX_THREADS];

static FWPS_INCOMING_VALUE0 g_Values[FWPS_FIELD_INBOUND_TRANSPORT_V4_MAX];
static FWPS_INCOMING_VALUES0 g_In;
static FWPS_INCOMING_METADATA_VALUES0 g_Meta;

#ifdef FLOW_CONTEXT_TYPE
/* flows.attribution: every packet belongs to one flow whose context holds a process id and path,
 * as WFP passes it to classify (FLOW_PRESENT: the context's process flags). */
static FLOW_CONTEXT_TYPE g_Flow;
#define BENCH_FLOW_CONTEXT ((UINT64)(ULONG_PTR)&g_Flow)
#else
#define BENCH_FLOW_CONTEXT 0
#endif

static uint64_t bench_ns(clockid_t clock)
{
    struct timespec now;

    clock_gettime(clock, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static void bench_values(void)
{
    g_Values[FWPS_FIELD_INBOUND_TRANSPORT_V4_IP_PROTOCOL].value.type = FWP_UINT8;
    g_Values[FWPS_FIELD_INBOUND_TRANSPORT_V4_IP_PROTOCOL].value.uint8 = 6;
    g_Values[FWPS_FIELD_INBOUND_TRANSPORT_V4_IP_LOCAL_ADDRESS].value.type = FWP_UINT32;
    g_Values[FWPS_FIELD_INBOUND_TRANSPORT_V4_IP_LOCAL_ADDRESS].value.uint32 = 0x0A000005u;
    g_Values[FWPS_FIELD_INBOUND_TRANSPORT_V4_IP_LOCAL_PORT].value.type = FWP_UINT16;
    g_Values[FWPS_FIELD_INBOUND_TRANSPORT_V4_IP_LOCAL_PORT].value.uint16 = 51000;
    g_Values[FWPS_FIELD_INBOUND_TRANSPORT_V4_IP_REMOTE_ADDRESS].value.type = FWP_UINT32;
    g_Values[FWPS_FIELD_INBOUND_TRANSPORT_V4_IP_REMOTE_ADDRESS].value.uint32 = 0x5DB8D822u;
    g_Values[FWPS_FIELD_INBOUND_TRANSPORT_V4_IP_REMOTE_PORT].value.type = FWP_UINT16;
    g_Values[FWPS_FIELD_INBOUND_TRANSPORT_V4_IP_REMOTE_PORT].value.uint16 = 443;
    g_In.layerId = FWPS_LAYER_INBOUND_TRANSPORT_V4;
    g_In.valueCount = FWPS_FIELD_INBOUND_TRANSPORT_V4_MAX;
    g_In.incomingValue = g_Values;
#ifdef FLOW_CONTEXT_TYPE
    {
        static const WCHAR path[] = FLOW_PATH;

        g_Flow.FlowHandle = 0x10001;
        g_Flow.References = 1;
        g_Flow.IpVersion = 4;
        g_Flow.Present = FLOW_PRESENT;
        g_Flow.ProcessId = 4242;
        g_Flow.ProcessPathLength = (UINT32)sizeof(path);
        memcpy(g_Flow.ProcessPath, path, sizeof(path));
    }
#endif
}

static void bench_classify(uint64_t count)
{
    FWPS_CLASSIFY_OUT0 out;

    memset(&out, 0, sizeof(out));
    out.rights = FWPS_RIGHT_ACTION_WRITE;
    for (uint64_t i = 0; i < count; i++)
    {
        CLASSIFY_FN(&g_In, &g_Meta, NULL, NULL, NULL, BENCH_FLOW_CONTEXT, &out);
    }
}

static void bench_floor(BENCH_RING *ring, RECORD_TYPE *record, uint64_t count)
{
    const UINT32 size = (UINT32)sizeof(*record);
    KLOCK_QUEUE_HANDLE lockHandle;
    LARGE_INTEGER now;

    for (uint64_t i = 0; i < count; i++)
    {
        KeQuerySystemTimePrecise(&now);
        record->Header.Timestamp = (UINT64)now.QuadPart;
        KeAcquireInStackQueuedSpinLock(&ring->Lock, &lockHandle);
        if (size <= ring->Capacity - ring->Used)
        {
            UINT32 first = ring->Capacity - ring->Head;

            if (first >= size)
            {
                memcpy(ring->Buffer + ring->Head, record, size);
            }
            else
            {
                memcpy(ring->Buffer + ring->Head, record, first);
                memcpy(ring->Buffer, (const UINT8 *)record + first, size - first);
            }
            ring->Head += size;
            if (ring->Head >= ring->Capacity)
            {
                ring->Head -= ring->Capacity;
            }
            ring->Used += size;
        }
        else
        {
            ring->Dropped++;
        }
        KeReleaseInStackQueuedSpinLock(&lockHandle);
    }
}

static void bench_timestamps(RECORD_TYPE *record, uint64_t count)
{
    LARGE_INTEGER now;

    for (uint64_t i = 0; i < count; i++)
    {
        KeQuerySystemTimePrecise(&now);
        record->Header.Timestamp = (UINT64)now.QuadPart;
        __asm__ __volatile__("" : : "r"(record) : "memory"); /* the store is kept, as in the floor */
    }
}

static void bench_loop(int mode, BENCH_RING *ring, RECORD_TYPE *record, uint64_t count)
{
    if (mode == BENCH_CLASSIFY)
    {
        bench_classify(count);
    }
    else if (mode == BENCH_FLOOR)
    {
        bench_floor(ring, record, count);
    }
    else
    {
        bench_timestamps(record, count);
    }
}

static void bench_sleep_until(uint64_t deadline)
{
    struct timespec at;

    at.tv_sec = (time_t)(deadline / 1000000000u);
    at.tv_nsec = (long)(deadline % 1000000000u);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) != 0)
    {
    }
}

static void *bench_worker(void *argument)
{
    BENCH_WORKER *worker = argument;
    RECORD_TYPE record;
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(worker->Cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    HostWdk_SetCurrentProcessor(worker->Index);
    memset(&record, 0, sizeof(record));
    record.Header.Size = (UINT32)sizeof(record);
    record.Header.Present = 0x1Fu;
    for (;;)
    {
        BENCH_RESULT *result = &g_Results[worker->Index];
        uint64_t events;

        pthread_barrier_wait(&g_StartBarrier);
        if (g_Quit)
        {
            return NULL;
        }
        events = worker->Events;
        /* A barrier wakes its waiters one after another, tens of microseconds apart: the last
           worker to arrive here starts the round, and the others spin until it does, so the
           loops start within a cache-line transfer of each other. */
        if (__atomic_add_fetch(&g_Arrived, 1, __ATOMIC_ACQ_REL) == g_Threads)
        {
            __atomic_store_n(&g_Go, g_Round, __ATOMIC_RELEASE);
        }
        while (__atomic_load_n(&g_Go, __ATOMIC_ACQUIRE) != g_Round)
        {
        }
        result->CpuAtStart = sched_getcpu();
        uint64_t cpu = bench_ns(CLOCK_THREAD_CPUTIME_ID);
        uint64_t start = bench_ns(CLOCK_MONOTONIC);
        if (g_RatePerThread <= 0.0)
        {
            bench_loop(g_Mode, worker->Ring, &record, events);
        }
        else
        {
            /* One chunk per period: the events due in it, all at once. */
            uint64_t per_chunk = (uint64_t)(g_RatePerThread * BENCH_PACE_PERIOD_NS / 1e9);
            uint64_t period = 0;
            per_chunk = per_chunk > 0 ? per_chunk : 1;
            for (uint64_t done = 0; done < events; done += per_chunk, period++)
            {
                uint64_t chunk = events - done < per_chunk ? events - done : per_chunk;

                bench_sleep_until(start + period * BENCH_PACE_PERIOD_NS);
                bench_loop(g_Mode, worker->Ring, &record, chunk);
            }
        }
        result->EndNs = bench_ns(CLOCK_MONOTONIC);
        result->CpuNs = bench_ns(CLOCK_THREAD_CPUTIME_ID) - cpu;
        result->StartNs = start;
        result->Events = events;
        result->CpuAtEnd = sched_getcpu();
        pthread_barrier_wait(&g_EndBarrier);
    }
}

/* Creates `threads` workers, worker i pinned to cpus[i] and playing processor i; the floor's
   rings get `ring_bytes` each. 0 on success. The driver must be loaded. */
int Bench_Start(uint32_t threads, const int32_t *cpus, uint32_t ring_bytes)
{
    if (threads == 0 || threads > BENCH_MAX_THREADS || g_Threads != 0 || ring_bytes < 2u * sizeof(RECORD_TYPE))
    {
        return -1;
    }
    bench_values();
    g_Quit = 0;
    pthread_barrier_init(&g_StartBarrier, NULL, threads + 1);
    pthread_barrier_init(&g_EndBarrier, NULL, threads + 1);
    for (uint32_t i = 0; i < threads; i++)
    {
        BENCH_RING *ring = aligned_alloc(128, (sizeof(BENCH_RING) + 127u) & ~(size_t)127u);
        if (ring == NULL)
        {
            return -1;
        }
        memset(ring, 0, sizeof(*ring));
        ring->Buffer = aligned_alloc(128, ((size_t)ring_bytes + 127u) & ~(size_t)127u);
        if (ring->Buffer == NULL)
        {
            return -1;
        }
        memset(ring->Buffer, 0, ring_bytes); /* fault every page in before anything is timed */
        ring->Capacity = ring_bytes;
        g_Workers[i].Index = i;
        g_Workers[i].Cpu = cpus[i];
        g_Workers[i].Ring = ring;
        if (pthread_create(&g_Workers[i].Thread, NULL, bench_worker, &g_Workers[i]) != 0)
        {
            return -1;
        }
        g_Threads = i + 1;
    }
    return 0;
}

/* One round: the first `threads` workers run `mode` for `events` each, flat out
   (`rate_per_thread` 0) or paced; the others pass the barriers with nothing to do. Results go to
   results[0..threads). */
int Bench_Run(int mode, uint32_t threads, uint64_t events, double rate_per_thread, BENCH_RESULT *results)
{
    if (threads == 0 || threads > g_Threads)
    {
        return -1;
    }
    /* The floor's rings were emptied by Bench_FloorDrain, as READ empties the driver's: the next
       record is written where the last ended. */
    for (uint32_t i = 0; i < g_Threads; i++)
    {
        g_Workers[i].Ring->Used = 0;
        g_Workers[i].Ring->Dropped = 0;
        g_Workers[i].Events = i < threads ? events : 0;
    }
    __atomic_store_n(&g_Arrived, 0, __ATOMIC_RELAXED);
    g_Round++;
    g_Mode = mode;
    g_RatePerThread = rate_per_thread;
    pthread_barrier_wait(&g_StartBarrier);
    pthread_barrier_wait(&g_EndBarrier);
    memcpy(results, g_Results, sizeof(BENCH_RESULT) * threads);
    return 0;
}

/* Stops and joins every worker. */
void Bench_Stop(void)
{
    if (g_Threads == 0)
    {
        return;
    }
    g_Quit = 1;
    pthread_barrier_wait(&g_StartBarrier);
    for (uint32_t i = 0; i < g_Threads; i++)
    {
        pthread_join(g_Workers[i].Thread, NULL);
        free(g_Workers[i].Ring->Buffer);
        free(g_Workers[i].Ring);
    }
    pthread_barrier_destroy(&g_StartBarrier);
    pthread_barrier_destroy(&g_EndBarrier);
    g_Threads = 0;
}

/* Empties the floor's rings as a READ empties the driver's: every byte stored is copied out,
   under the ring's lock, by the calling thread (not a worker), so a ring's next round starts with
   its cache lines where the driver's start theirs. Returns the bytes copied. */
uint64_t Bench_FloorDrain(void)
{
    static UINT8 sink[1u << 16];
    KLOCK_QUEUE_HANDLE lockHandle;
    uint64_t total = 0;

    for (uint32_t i = 0; i < g_Threads; i++)
    {
        BENCH_RING *ring = g_Workers[i].Ring;

        KeAcquireInStackQueuedSpinLock(&ring->Lock, &lockHandle);
        while (ring->Used > 0)
        {
            UINT32 tail = (ring->Head + ring->Capacity - ring->Used) % ring->Capacity;
            UINT32 piece = ring->Capacity - tail;

            piece = piece < ring->Used ? piece : ring->Used;
            piece = piece < sizeof(sink) ? piece : (UINT32)sizeof(sink);
            memcpy(sink, ring->Buffer + tail, piece);
            ring->Used -= piece;
            total += piece;
        }
        KeReleaseInStackQueuedSpinLock(&lockHandle);
    }
    __asm__ __volatile__("" : : "r"(sink) : "memory");
    return total;
}

/* The floor's drops in the last round, summed over the workers (the caller sizes rounds so
   there are none). */
uint64_t Bench_FloorDropped(void)
{
    uint64_t dropped = 0;

    for (uint32_t i = 0; i < g_Threads; i++)
    {
        dropped += g_Workers[i].Ring->Dropped;
    }
    return dropped;
}
