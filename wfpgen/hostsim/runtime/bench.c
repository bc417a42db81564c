/*
 * bench.c - the bench build's classify-path primitives (compiled only with HOSTWDK_BENCH).
 *
 * The checked builds emulate spin locks with a pthread mutex per lock, owner tracking and a
 * measurement of every hold, and count every call: what proves a driver's locking, and what a
 * benchmark must not measure. Here the same routines cost about what the kernel's do:
 *
 *   - a spin lock is a test-and-test-and-set on the KSPIN_LOCK word itself (acquire ordering
 *     on the exchange, release ordering on the store that frees it); a waiter spins on plain
 *     loads, so it does not take the cache line away from the holder until the lock is free;
 *   - acquiring raises the thread's simulated IRQL to DISPATCH_LEVEL and releasing restores
 *     it, as in the checked build, without any rule check;
 *   - KeGetCurrentProcessorNumberEx is one read of a thread-local variable (initial-exec
 *     model: an offset from the thread pointer, no __tls_get_addr call), set by
 *     HostWdk_SetCurrentProcessor.
 *
 * KeQuerySystemTimePrecise stays core.c's (uncounted here): clock_gettime(CLOCK_REALTIME) in
 * 100-ns units since 1601, the system time with sub-microsecond resolution that the routine
 * returns on Windows and the checked builds return too. It is already the cheapest clock with
 * those semantics: CLOCK_MONOTONIC costs the same through the vDSO (about 28 ns on the 2-core
 * development VM) and would change the epoch, and the coarse clocks (about 7 ns) advance once a
 * scheduler tick (4 ms), which is KeQuerySystemTime's resolution, not the Precise one's.
 *
 * Nothing is counted or logged, so HostWdk_GetLockHolds reports no holds, and the audit sees no
 * lock held. A bench library proves nothing about a driver: `wfpgen check` never builds one.
 */

#include "hostwdk_internal.h"

#ifdef HOSTWDK_BENCH

#include <string.h>

static __thread uint32_t t_processor __attribute__((tls_model("initial-exec")));

void HostWdk_SetCurrentProcessor(uint32_t index)
{
    t_processor = index;
}

ULONG KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER ProcNumber)
{
    uint32_t index = t_processor;

    if (ProcNumber != NULL)
    {
        ProcNumber->Group = (USHORT)(index / 64u);
        ProcNumber->Number = (UCHAR)(index % 64u);
        ProcNumber->Reserved = 0;
    }
    return index;
}

static inline void hw_bench_lock(PKSPIN_LOCK lock)
{
    while (__atomic_exchange_n(lock, (KSPIN_LOCK)1, __ATOMIC_ACQUIRE) != 0)
    {
        while (__atomic_load_n(lock, __ATOMIC_RELAXED) != 0)
        {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#elif defined(__aarch64__)
            __asm__ __volatile__("yield");
#endif
        }
    }
}

static inline void hw_bench_unlock(PKSPIN_LOCK lock)
{
    __atomic_store_n(lock, (KSPIN_LOCK)0, __ATOMIC_RELEASE);
}

KIRQL KeAcquireSpinLockRaiseToDpc(PKSPIN_LOCK SpinLock)
{
    HW_THREAD *thread = hw_thread();
    KIRQL old = thread->Irql;

    thread->Irql = DISPATCH_LEVEL;
    hw_bench_lock(SpinLock);
    return old;
}

VOID KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql)
{
    hw_bench_unlock(SpinLock);
    hw_thread()->Irql = NewIrql;
}

VOID KeAcquireInStackQueuedSpinLock(PKSPIN_LOCK SpinLock, PKLOCK_QUEUE_HANDLE LockHandle)
{
    HW_THREAD *thread = hw_thread();

    LockHandle->OldIrql = thread->Irql;
    thread->Irql = DISPATCH_LEVEL;
    hw_bench_lock(SpinLock);
    LockHandle->LockQueue.Next = NULL;
    LockHandle->LockQueue.Lock = SpinLock;
}

VOID KeReleaseInStackQueuedSpinLock(PKLOCK_QUEUE_HANDLE LockHandle)
{
    hw_bench_unlock(LockHandle->LockQueue.Lock);
    hw_thread()->Irql = LockHandle->OldIrql;
}

void HostWdk_GetLockHolds(HOSTWDK_LOCK_HOLDS *holds)
{
    if (holds != NULL)
    {
        memset(holds, 0, sizeof(*holds));
    }
}

void HostWdk_ResetLockHolds(void)
{
}

void hw_release_thread_locks(void)
{
}

BOOLEAN hw_lock_held_in(const void *start, size_t size, PKSPIN_LOCK *which)
{
    (void)start;
    (void)size;
    (void)which;
    return FALSE;
}

uint32_t hw_locks_held_total(void)
{
    return 0;
}

#else

/* The checked builds take all of this from core.c; ISO C wants a declaration in every file. */
typedef int hw_bench_unused;

#endif /* HOSTWDK_BENCH */
