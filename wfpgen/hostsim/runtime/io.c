/*
 * io.c - host runtime: the driver object, device objects and symbolic links, handles, IRPs
 * (METHOD_BUFFERED), cancel-safe queues, and the load / unload / I/O test hooks.
 */

#define _GNU_SOURCE

#include "hostwdk_internal.h"

#include <errno.h>
#include <strings.h>
#include <time.h>

/* An NTSTATUS of error severity (the I/O manager copies no output for those). */
#define HW_NT_ERROR(s) ((((ULONG)(s)) >> 30) == 3u)

DRIVER_INITIALIZE DriverEntry; /* defined by the driver linked with the runtime */

/* wdmsec.h's SDDL string for "System and Administrators: all access". */
const UNICODE_STRING SDDL_DEVOBJ_SYS_ALL_ADM_ALL = RTL_CONSTANT_STRING(L"D:P(A;;GA;;;SY)(A;;GA;;;BA)");

#define HW_DEVICE_MAGIC 0x45434544u /* "DECE" */
#define HW_FILE_MAGIC   0x454c4946u /* "FILE" */
#define HW_IRP_MAGIC    0x50524948u /* "HIRP" */
#define HW_IO_TYPE_CSQ  1u          /* IO_CSQ.Type after IoCsqInitialize */
#define HW_IO_TYPE_CSQ_IRP_CONTEXT 1u

/* The host's halves of the structures hostwdk.h leaves opaque. */
struct _DEVICE_OBJECT
{
    ULONG Magic;
    PDRIVER_OBJECT DriverObject;
    char Name[HW_NAME_MAX]; /* "" when unnamed */
    DEVICE_TYPE DeviceType;
    ULONG Characteristics;
    PVOID DeviceExtension;
    struct _DEVICE_OBJECT *Next;
};

struct _FILE_OBJECT
{
    ULONG Magic;
    PDEVICE_OBJECT DeviceObject;
    int64_t Handle;
    uint32_t References; /* the handle's and each IRP's (under g_io_mutex) */
    struct _FILE_OBJECT *Next;
};

typedef struct _HW_LINK
{
    char Link[HW_NAME_MAX];   /* normalised to "\??\Name" */
    char Target[HW_NAME_MAX];
    struct _HW_LINK *Next;
} HW_LINK;

/* Bytes after each METHOD_BUFFERED system buffer, filled with HW_FILL and checked when the IRP
 * completes: a driver writing past the buffer is reported instead of corrupting the heap of
 * a plain build (and dying at some later, unrelated step).  Under AddressSanitizer the buffer
 * has exactly its size, so that ASan itself reports the overrun where it happens. */
#if defined(__SANITIZE_ADDRESS__)
#define HW_SYSTEM_BUFFER_GUARD 0u
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HW_SYSTEM_BUFFER_GUARD 0u
#endif
#endif
#ifndef HW_SYSTEM_BUFFER_GUARD
#define HW_SYSTEM_BUFFER_GUARD 4096u
#endif
#define HW_FILL 0xCD

/* An IRP and its one stack location, as the I/O manager would allocate them. */
typedef struct _HW_IRP
{
    IRP Irp;
    IO_STACK_LOCATION Stack;
    uint32_t Magic;
    int64_t Id;
    UCHAR Major;
    void *UserOutput;          /* the caller's output buffer (METHOD_BUFFERED copy-back) */
    uint32_t OutputLength;
    size_t SystemBufferLength; /* max(input, output): the guard zone follows it */
    BOOLEAN Completed;         /* the fields below: under g_io_mutex */
    BOOLEAN DispatchReturned;
    NTSTATUS Status;
    ULONG_PTR Information;
    uint32_t Refs;             /* cancellations in progress */
    PIO_CSQ CancelCsq;         /* atomic: set while the IRP is cancelable in a cancel-safe queue */
    uint32_t MarkedPending;    /* atomic */
    struct _HW_IRP *Next;
} HW_IRP;

static pthread_mutex_t g_io_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_io_cond = PTHREAD_COND_INITIALIZER;
static PDEVICE_OBJECT g_devices;
static HW_LINK *g_links;
static PFILE_OBJECT g_files;
static HW_IRP *g_irps;
static int64_t g_next_handle;
static int64_t g_next_irp;
static uint32_t g_devices_count;
static uint32_t g_links_count;
static uint32_t g_files_count;
static uint32_t g_pending_count;

static DRIVER_OBJECT g_driver;
static BOOLEAN g_loaded;

PDRIVER_OBJECT hw_driver_object(void)
{
    return &g_driver;
}

static const char *hw_major_name(UCHAR major)
{
    switch (major)
    {
    case IRP_MJ_CREATE:
        return "IRP_MJ_CREATE";
    case IRP_MJ_CLOSE:
        return "IRP_MJ_CLOSE";
    case IRP_MJ_CLEANUP:
        return "IRP_MJ_CLEANUP";
    case IRP_MJ_DEVICE_CONTROL:
        return "IRP_MJ_DEVICE_CONTROL";
    default:
        return "IRP_MJ_?";
    }
}

/* -- device objects and symbolic links -------------------------------------------------------- */

BOOLEAN hw_is_device(const void *device)
{
    PDEVICE_OBJECT it;
    BOOLEAN found = FALSE;

    pthread_mutex_lock(&g_io_mutex);
    for (it = g_devices; it != NULL; it = it->Next)
    {
        if (it == device)
        {
            found = TRUE;
        }
    }
    pthread_mutex_unlock(&g_io_mutex);
    return found;
}

static PDEVICE_OBJECT hw_find_device_locked(const char *name)
{
    PDEVICE_OBJECT it;

    for (it = g_devices; it != NULL; it = it->Next)
    {
        if (it->Name[0] != '\0' && strcasecmp(it->Name, name) == 0)
        {
            return it;
        }
    }
    return NULL;
}

static NTSTATUS hw_create_device(HW_API api, PDRIVER_OBJECT DriverObject, ULONG DeviceExtensionSize,
                                 PUNICODE_STRING DeviceName, DEVICE_TYPE DeviceType, ULONG DeviceCharacteristics,
                                 PDEVICE_OBJECT *DeviceObject)
{
    const char *apiName = hw_api_name(api);
    char name[HW_NAME_MAX] = "";
    PDEVICE_OBJECT device;

    if (DeviceObject == NULL)
    {
        hw_violation("%s: DeviceObject is NULL", apiName);
        return STATUS_INVALID_PARAMETER;
    }
    *DeviceObject = NULL;
    if (DriverObject != &g_driver)
    {
        hw_violation("%s: DriverObject %p is not the driver object DriverEntry received", apiName,
                     (void *)DriverObject);
        return STATUS_INVALID_PARAMETER;
    }
    if (DeviceName != NULL && !hw_unicode_to_ascii(apiName, DeviceName, name, sizeof(name)))
    {
        return STATUS_OBJECT_NAME_INVALID;
    }
    if (name[0] != '\0' && strncmp(name, "\\Device\\", 8) != 0)
    {
        hw_log("%s: device name \"%s\" is not under \\Device", apiName, name);
    }
    device = calloc(1, sizeof(*device));
    if (device == NULL)
    {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    device->DeviceExtension = DeviceExtensionSize ? calloc(1, DeviceExtensionSize) : NULL;
    if (DeviceExtensionSize && device->DeviceExtension == NULL)
    {
        free(device);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    device->Magic = HW_DEVICE_MAGIC;
    device->DriverObject = DriverObject;
    device->DeviceType = DeviceType;
    device->Characteristics = DeviceCharacteristics;
    snprintf(device->Name, sizeof(device->Name), "%s", name);
    pthread_mutex_lock(&g_io_mutex);
    if (name[0] != '\0' && hw_find_device_locked(name) != NULL)
    {
        pthread_mutex_unlock(&g_io_mutex);
        free(device->DeviceExtension);
        free(device);
        return STATUS_OBJECT_NAME_COLLISION;
    }
    device->Next = g_devices;
    g_devices = device;
    g_devices_count++;
    if (DriverObject->DeviceObject == NULL)
    {
        DriverObject->DeviceObject = device;
    }
    pthread_mutex_unlock(&g_io_mutex);
    *DeviceObject = device;
    return STATUS_SUCCESS;
}

NTSTATUS IoCreateDevice(PDRIVER_OBJECT DriverObject, ULONG DeviceExtensionSize, PUNICODE_STRING DeviceName,
                        DEVICE_TYPE DeviceType, ULONG DeviceCharacteristics, BOOLEAN Exclusive,
                        PDEVICE_OBJECT *DeviceObject)
{
    NTSTATUS status;
    char name[HW_NAME_MAX] = "";

    (void)Exclusive;
    if (DeviceName != NULL && DeviceName->Buffer != NULL)
    {
        hw_unicode_to_ascii("IoCreateDevice", DeviceName, name, sizeof(name));
    }
    if (hw_api_enter(HW_API_IoCreateDevice, &status))
    {
        if (DeviceObject != NULL)
        {
            *DeviceObject = NULL;
        }
    }
    else
    {
        status = hw_create_device(HW_API_IoCreateDevice, DriverObject, DeviceExtensionSize, DeviceName, DeviceType,
                                  DeviceCharacteristics, DeviceObject);
    }
    hw_log_api(HW_API_IoCreateDevice, "IoCreateDevice(\"%s\") -> 0x%08X", name, (unsigned)status);
    return status;
}

NTSTATUS WdmlibIoCreateDeviceSecure(PDRIVER_OBJECT DriverObject, ULONG DeviceExtensionSize, PUNICODE_STRING DeviceName,
                                    DEVICE_TYPE DeviceType, ULONG DeviceCharacteristics, BOOLEAN Exclusive,
                                    PCUNICODE_STRING DefaultSDDLString, LPCGUID DeviceClassGuid,
                                    PDEVICE_OBJECT *DeviceObject)
{
    NTSTATUS status;
    char name[HW_NAME_MAX] = "";
    char sddl[HW_NAME_MAX] = "";
    char guid[37];

    (void)Exclusive;
    if (DeviceName != NULL && DeviceName->Buffer != NULL)
    {
        hw_unicode_to_ascii("IoCreateDeviceSecure", DeviceName, name, sizeof(name));
    }
    if (hw_api_enter(HW_API_WdmlibIoCreateDeviceSecure, &status))
    {
        if (DeviceObject != NULL)
        {
            *DeviceObject = NULL;
        }
    }
    else if (DefaultSDDLString == NULL || !hw_unicode_to_ascii("IoCreateDeviceSecure", DefaultSDDLString, sddl,
                                                                sizeof(sddl)) ||
             strncmp(sddl, "D:P", 3) != 0)
    {
        hw_violation("IoCreateDeviceSecure(\"%s\"): DefaultSDDLString must be a protected DACL (\"D:P...\")", name);
        status = STATUS_INVALID_PARAMETER;
    }
    else
    {
        status = hw_create_device(HW_API_WdmlibIoCreateDeviceSecure, DriverObject, DeviceExtensionSize, DeviceName,
                                  DeviceType, DeviceCharacteristics, DeviceObject);
    }
    hw_log_api(HW_API_WdmlibIoCreateDeviceSecure, "IoCreateDeviceSecure(\"%s\", sddl=\"%s\", class=%s) -> 0x%08X",
               name, sddl, hw_guid_text(DeviceClassGuid, guid), (unsigned)status);
    return status;
}

VOID IoDeleteDevice(PDEVICE_OBJECT DeviceObject)
{
    NTSTATUS fail;
    PDEVICE_OBJECT *link;
    PDEVICE_OBJECT device = NULL;
    PFILE_OBJECT file;
    uint32_t open = 0;
    uint32_t callouts;

    (void)hw_api_enter(HW_API_IoDeleteDevice, &fail);
    pthread_mutex_lock(&g_io_mutex);
    for (link = &g_devices; *link != NULL; link = &(*link)->Next)
    {
        if (*link == DeviceObject)
        {
            device = *link;
            *link = device->Next;
            g_devices_count--;
            break;
        }
    }
    if (device != NULL)
    {
        for (file = g_files; file != NULL; file = file->Next)
        {
            if (file->DeviceObject == device)
            {
                open++;
            }
        }
        if (g_driver.DeviceObject == device)
        {
            g_driver.DeviceObject = g_devices;
        }
    }
    pthread_mutex_unlock(&g_io_mutex);
    hw_log_api(HW_API_IoDeleteDevice, "IoDeleteDevice(\"%s\")", device ? device->Name : "?");
    if (device == NULL)
    {
        hw_violation("IoDeleteDevice(%p): not a device object of this driver (deleted twice?)", (void *)DeviceObject);
        return;
    }
    callouts = hw_thread()->Irql == PASSIVE_LEVEL ? hw_fwp_callouts_on_device(device) : 0;
    if (callouts > 0)
    {
        hw_violation("IoDeleteDevice(\"%s\") while %u run-time callout(s) are still registered against it",
                     device->Name, callouts);
    }
    if (open > 0)
    {
        /* Windows keeps the object until the last handle closes; the host does the same. */
        hw_log("IoDeleteDevice(\"%s\"): %u handle(s) still open", device->Name, open);
        device->Magic = 0;
        return;
    }
    device->Magic = 0;
    free(device->DeviceExtension);
    free(device);
}

/* "\DosDevices\X", "\??\X" and "\GLOBAL??\X" all name "\??\X". */
static BOOLEAN hw_normalise_link(const char *name, char *out, size_t size)
{
    static const char *const prefixes[] = {"\\DosDevices\\", "\\??\\", "\\GLOBAL??\\"};
    size_t i;

    for (i = 0; i < RTL_NUMBER_OF(prefixes); i++)
    {
        size_t length = strlen(prefixes[i]);

        if (strncasecmp(name, prefixes[i], length) == 0 && name[length] != '\0')
        {
            snprintf(out, size, "\\??\\%s", name + length);
            return TRUE;
        }
    }
    return FALSE;
}

NTSTATUS IoCreateSymbolicLink(PUNICODE_STRING SymbolicLinkName, PUNICODE_STRING DeviceName)
{
    NTSTATUS status;
    char link[HW_NAME_MAX] = "";
    char target[HW_NAME_MAX] = "";
    char normal[HW_NAME_MAX];
    HW_LINK *it;
    HW_LINK *entry;

    if (hw_api_enter(HW_API_IoCreateSymbolicLink, &status))
    {
        goto Done;
    }
    if (!hw_unicode_to_ascii("IoCreateSymbolicLink", SymbolicLinkName, link, sizeof(link)) ||
        !hw_unicode_to_ascii("IoCreateSymbolicLink", DeviceName, target, sizeof(target)))
    {
        status = STATUS_OBJECT_NAME_INVALID;
        goto Done;
    }
    if (!hw_normalise_link(link, normal, sizeof(normal)))
    {
        hw_violation("IoCreateSymbolicLink(\"%s\"): a link for user mode belongs under \\DosDevices or \\??", link);
        status = STATUS_OBJECT_NAME_INVALID;
        goto Done;
    }
    entry = calloc(1, sizeof(*entry));
    if (entry == NULL)
    {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto Done;
    }
    snprintf(entry->Link, sizeof(entry->Link), "%s", normal);
    snprintf(entry->Target, sizeof(entry->Target), "%s", target);
    pthread_mutex_lock(&g_io_mutex);
    for (it = g_links; it != NULL; it = it->Next)
    {
        if (strcasecmp(it->Link, normal) == 0)
        {
            break;
        }
    }
    if (it != NULL)
    {
        status = STATUS_OBJECT_NAME_COLLISION;
        free(entry);
    }
    else
    {
        entry->Next = g_links;
        g_links = entry;
        g_links_count++;
        status = STATUS_SUCCESS;
    }
    pthread_mutex_unlock(&g_io_mutex);
Done:
    hw_log_api(HW_API_IoCreateSymbolicLink, "IoCreateSymbolicLink(\"%s\" -> \"%s\") -> 0x%08X", link, target,
               (unsigned)status);
    return status;
}

NTSTATUS IoDeleteSymbolicLink(PUNICODE_STRING SymbolicLinkName)
{
    NTSTATUS status;
    char link[HW_NAME_MAX] = "";
    char normal[HW_NAME_MAX];
    HW_LINK **it;
    HW_LINK *found = NULL;

    if (hw_api_enter(HW_API_IoDeleteSymbolicLink, &status))
    {
        goto Done;
    }
    if (!hw_unicode_to_ascii("IoDeleteSymbolicLink", SymbolicLinkName, link, sizeof(link)) ||
        !hw_normalise_link(link, normal, sizeof(normal)))
    {
        status = STATUS_OBJECT_NAME_INVALID;
        goto Done;
    }
    pthread_mutex_lock(&g_io_mutex);
    for (it = &g_links; *it != NULL; it = &(*it)->Next)
    {
        if (strcasecmp((*it)->Link, normal) == 0)
        {
            found = *it;
            *it = found->Next;
            g_links_count--;
            break;
        }
    }
    pthread_mutex_unlock(&g_io_mutex);
    free(found);
    status = found ? STATUS_SUCCESS : STATUS_OBJECT_NAME_NOT_FOUND;
Done:
    hw_log_api(HW_API_IoDeleteSymbolicLink, "IoDeleteSymbolicLink(\"%s\") -> 0x%08X", link, (unsigned)status);
    return status;
}

/* -- IRPs ---------------------------------------------------------------------------------------- */

static HW_IRP *hw_irp_of(PIRP Irp, const char *api)
{
    HW_IRP *w;

    if (Irp == NULL)
    {
        hw_violation("%s(NULL IRP)", api);
        return NULL;
    }
    w = CONTAINING_RECORD(Irp, HW_IRP, Irp);
    if (w->Magic != HW_IRP_MAGIC)
    {
        hw_violation("%s(%p): not an IRP the I/O manager issued (or one already freed)", api, (void *)Irp);
        return NULL;
    }
    return w;
}

/* A new IRP for `major` on `file`; the caller links it in under g_io_mutex. */
static HW_IRP *hw_irp_new(UCHAR major, PFILE_OBJECT file)
{
    HW_IRP *w = calloc(1, sizeof(*w));

    if (w == NULL)
    {
        return NULL;
    }
    w->Magic = HW_IRP_MAGIC;
    w->Major = major;
    w->Irp.Type = 6; /* IO_TYPE_IRP */
    w->Irp.Size = (USHORT)sizeof(IRP);
    w->Irp.StackCount = 1;
    w->Irp.CurrentLocation = 1;
    w->Irp.RequestorMode = 1; /* UserMode */
    w->Irp.IoStatus.Status = STATUS_SUCCESS;
    w->Irp.Tail.Overlay.CurrentStackLocation = &w->Stack;
    w->Irp.Tail.Overlay.OriginalFileObject = file;
    InitializeListHead(&w->Irp.ThreadListEntry);
    w->Stack.MajorFunction = major;
    w->Stack.FileObject = file;
    w->Stack.DeviceObject = file->DeviceObject;
    return w;
}

static void hw_irp_link(HW_IRP *w)
{
    pthread_mutex_lock(&g_io_mutex);
    w->Stack.FileObject->References++;
    w->Id = ++g_next_irp;
    w->Next = g_irps;
    g_irps = w;
    g_pending_count++;
    pthread_mutex_unlock(&g_io_mutex);
}

/* Drops one reference to `file`; g_io_mutex held. */
static void hw_file_release_locked(PFILE_OBJECT file)
{
    if (file != NULL && --file->References == 0)
    {
        file->Magic = 0;
        free(file);
    }
}

/* Unlinks and frees a completed IRP; g_io_mutex held. */
static void hw_irp_free_locked(HW_IRP *w)
{
    HW_IRP **it;
    PFILE_OBJECT file = w->Stack.FileObject;

    for (it = &g_irps; *it != NULL; it = &(*it)->Next)
    {
        if (*it == w)
        {
            *it = w->Next;
            break;
        }
    }
    if (w->Major == IRP_MJ_DEVICE_CONTROL)
    {
        free(w->Irp.AssociatedIrp.SystemBuffer);
    }
    w->Magic = 0;
    free(w);
    hw_file_release_locked(file);
}

static HW_IRP *hw_irp_find_locked(int64_t id)
{
    HW_IRP *w;

    for (w = g_irps; w != NULL; w = w->Next)
    {
        if (w->Id == id)
        {
            return w;
        }
    }
    return NULL;
}

VOID FASTCALL IofCompleteRequest(PIRP Irp, CCHAR PriorityBoost)
{
    NTSTATUS fail;
    HW_IRP *w;
    NTSTATUS status;
    ULONG_PTR information;

    (void)PriorityBoost;
    (void)hw_api_enter(HW_API_IofCompleteRequest, &fail);
    w = hw_irp_of(Irp, "IoCompleteRequest");
    if (w == NULL)
    {
        return;
    }
    status = Irp->IoStatus.Status;
    information = Irp->IoStatus.Information;
    hw_log_api(HW_API_IofCompleteRequest, "IoCompleteRequest(%s #%lld, status 0x%08X, information %llu)",
               hw_major_name(w->Major), (long long)w->Id, (unsigned)status, (unsigned long long)information);
    if (__atomic_load_n(&w->CancelCsq, __ATOMIC_RELAXED) != NULL)
    {
        hw_violation("IoCompleteRequest(%s #%lld): the IRP is still in a cancel-safe queue (remove it with "
                     "IoCsqRemoveNextIrp first)",
                     hw_major_name(w->Major), (long long)w->Id);
    }
    if (status == STATUS_PENDING)
    {
        hw_violation("IoCompleteRequest(%s #%lld) with IoStatus.Status == STATUS_PENDING", hw_major_name(w->Major),
                     (long long)w->Id);
    }
    if (w->Major == IRP_MJ_DEVICE_CONTROL && w->Irp.AssociatedIrp.SystemBuffer != NULL)
    {
        const UCHAR *guard = (const UCHAR *)w->Irp.AssociatedIrp.SystemBuffer + w->SystemBufferLength;
        size_t past = HW_SYSTEM_BUFFER_GUARD;

        while (past > 0 && guard[past - 1] == HW_FILL)
        {
            past--;
        }
        if (past > 0)
        {
            hw_violation("IoCompleteRequest(IOCTL 0x%08X #%lld): the driver wrote up to %zu bytes past the end of "
                         "the %zu-byte system buffer",
                         (unsigned)w->Stack.Parameters.DeviceIoControl.IoControlCode, (long long)w->Id, past,
                         w->SystemBufferLength);
        }
    }
    if (w->Major == IRP_MJ_DEVICE_CONTROL && NT_SUCCESS(status) && information > w->OutputLength)
    {
        hw_violation("IoCompleteRequest(IOCTL 0x%08X #%lld): IoStatus.Information %llu exceeds OutputBufferLength %u",
                     (unsigned)w->Stack.Parameters.DeviceIoControl.IoControlCode, (long long)w->Id,
                     (unsigned long long)information, w->OutputLength);
    }
    pthread_mutex_lock(&g_io_mutex);
    if (w->Completed)
    {
        pthread_mutex_unlock(&g_io_mutex);
        hw_violation("IoCompleteRequest(%s #%lld) called twice for the same IRP", hw_major_name(w->Major),
                     (long long)w->Id);
        return;
    }
    w->Completed = TRUE;
    w->Status = status;
    w->Information = information;
    g_pending_count--;
    pthread_cond_broadcast(&g_io_cond);
    pthread_mutex_unlock(&g_io_mutex);
}

/* The I/O manager's answer for a major function the driver does not handle. */
static NTSTATUS hw_invalid_request(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{
    (void)DeviceObject;
    Irp->IoStatus.Status = STATUS_INVALID_DEVICE_REQUEST;
    Irp->IoStatus.Information = 0;
    IofCompleteRequest(Irp, IO_NO_INCREMENT);
    return STATUS_INVALID_DEVICE_REQUEST;
}

/* Calls the dispatch routine at PASSIVE_LEVEL and checks what it did with the IRP.  Returns
 * what it returned; the IRP stays linked (the caller frees it or hands out its id). */
static NTSTATUS hw_dispatch(HW_IRP *w)
{
    PDRIVER_DISPATCH routine = g_driver.MajorFunction[w->Major];
    char what[96];
    const char *previous;
    NTSTATUS returned;
    BOOLEAN marked;

    snprintf(what, sizeof(what), "dispatch routine (%s)", hw_major_name(w->Major));
    if (routine == NULL)
    {
        hw_violation("DriverObject->MajorFunction[%s] is NULL", hw_major_name(w->Major));
        routine = hw_invalid_request;
    }
    previous = hw_enter_driver(hw_major_name(w->Major), PASSIVE_LEVEL);
    returned = routine(w->Stack.DeviceObject, &w->Irp);
    hw_leave_driver(what, PASSIVE_LEVEL, previous, PASSIVE_LEVEL);

    marked = (w->Stack.Control & SL_PENDING_RETURNED) != 0 || __atomic_load_n(&w->MarkedPending, __ATOMIC_RELAXED);
    pthread_mutex_lock(&g_io_mutex);
    w->DispatchReturned = TRUE;
    if (returned == STATUS_PENDING)
    {
        if (!marked)
        {
            pthread_mutex_unlock(&g_io_mutex);
            hw_violation("%s returned STATUS_PENDING without marking the IRP pending (IoMarkIrpPending or "
                         "IoCsqInsertIrp)",
                         what);
            pthread_mutex_lock(&g_io_mutex);
        }
    }
    else if (!w->Completed)
    {
        pthread_mutex_unlock(&g_io_mutex);
        hw_violation("%s returned 0x%08X without completing the IRP (and not STATUS_PENDING)", what,
                     (unsigned)returned);
        pthread_mutex_lock(&g_io_mutex);
    }
    else
    {
        NTSTATUS completed = w->Status;

        pthread_mutex_unlock(&g_io_mutex);
        if (completed != returned)
        {
            hw_violation("%s returned 0x%08X but completed the IRP with IoStatus.Status 0x%08X", what,
                         (unsigned)returned, (unsigned)completed);
        }
        if (marked)
        {
            hw_violation("%s marked the IRP pending but returned 0x%08X instead of STATUS_PENDING", what,
                         (unsigned)returned);
        }
        pthread_mutex_lock(&g_io_mutex);
    }
    pthread_mutex_unlock(&g_io_mutex);
    return returned;
}

/* Waits (g_io_mutex held) until `w` is completed and no cancellation uses it; FALSE on timeout. */
static BOOLEAN hw_wait_locked(HW_IRP *w, uint32_t timeout_ms)
{
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)(timeout_ms / 1000u);
    deadline.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L)
    {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (!w->Completed || w->Refs > 0)
    {
        if (pthread_cond_timedwait(&g_io_cond, &g_io_mutex, &deadline) == ETIMEDOUT)
        {
            return w->Completed && w->Refs == 0;
        }
    }
    return TRUE;
}

/* Copies a completed METHOD_BUFFERED result out and frees the IRP; g_io_mutex held. */
static NTSTATUS hw_finish_locked(HW_IRP *w, uint64_t *information)
{
    NTSTATUS status = w->Status;
    ULONG_PTR copy = w->Information;

    if (w->Major == IRP_MJ_DEVICE_CONTROL && w->UserOutput != NULL && !HW_NT_ERROR(status))
    {
        if (copy > w->OutputLength)
        {
            copy = w->OutputLength;
        }
        if (copy > 0 && w->Irp.AssociatedIrp.SystemBuffer != NULL)
        {
            memcpy(w->UserOutput, w->Irp.AssociatedIrp.SystemBuffer, copy);
        }
    }
    if (information != NULL)
    {
        *information = w->Information;
    }
    hw_irp_free_locked(w);
    return status;
}

/* Sends a CREATE / CLEANUP / CLOSE and waits for it. */
static NTSTATUS hw_send_sync(UCHAR major, PFILE_OBJECT file)
{
    HW_IRP *w = hw_irp_new(major, file);
    NTSTATUS returned;
    NTSTATUS status;

    if (w == NULL)
    {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    hw_irp_link(w);
    returned = hw_dispatch(w);
    pthread_mutex_lock(&g_io_mutex);
    if (!hw_wait_locked(w, returned == STATUS_PENDING ? 10000u : 0u))
    {
        pthread_mutex_unlock(&g_io_mutex);
        hw_violation("%s was never completed", hw_major_name(major));
        return returned == STATUS_PENDING ? STATUS_UNSUCCESSFUL : returned;
    }
    status = hw_finish_locked(w, NULL);
    pthread_mutex_unlock(&g_io_mutex);
    return status;
}

/* -- cancel-safe queues ----------------------------------------------------------------------------- */

NTSTATUS IoCsqInitialize(PIO_CSQ Csq, PIO_CSQ_INSERT_IRP CsqInsertIrp, PIO_CSQ_REMOVE_IRP CsqRemoveIrp,
                         PIO_CSQ_PEEK_NEXT_IRP CsqPeekNextIrp, PIO_CSQ_ACQUIRE_LOCK CsqAcquireLock,
                         PIO_CSQ_RELEASE_LOCK CsqReleaseLock, PIO_CSQ_COMPLETE_CANCELED_IRP CsqCompleteCanceledIrp)
{
    NTSTATUS status;

    if (hw_api_enter(HW_API_IoCsqInitialize, &status))
    {
        goto Done;
    }
    if (Csq == NULL || CsqInsertIrp == NULL || CsqRemoveIrp == NULL || CsqPeekNextIrp == NULL ||
        CsqAcquireLock == NULL || CsqReleaseLock == NULL || CsqCompleteCanceledIrp == NULL)
    {
        hw_violation("IoCsqInitialize: the queue and every callback must be non-NULL");
        status = STATUS_INVALID_PARAMETER;
        goto Done;
    }
    Csq->Type = HW_IO_TYPE_CSQ;
    Csq->CsqInsertIrp = CsqInsertIrp;
    Csq->CsqRemoveIrp = CsqRemoveIrp;
    Csq->CsqPeekNextIrp = CsqPeekNextIrp;
    Csq->CsqAcquireLock = CsqAcquireLock;
    Csq->CsqReleaseLock = CsqReleaseLock;
    Csq->CsqCompleteCanceledIrp = CsqCompleteCanceledIrp;
    Csq->ReservePointer = NULL;
    status = STATUS_SUCCESS;
Done:
    hw_log_api(HW_API_IoCsqInitialize, "IoCsqInitialize(%p) -> 0x%08X", (void *)Csq, (unsigned)status);
    return status;
}

static BOOLEAN hw_csq_valid(PIO_CSQ Csq, const char *api)
{
    if (Csq == NULL || Csq->Type != HW_IO_TYPE_CSQ || Csq->CsqAcquireLock == NULL)
    {
        hw_violation("%s(%p): the queue was not initialised with IoCsqInitialize", api, (void *)Csq);
        return FALSE;
    }
    return TRUE;
}

/* IoCsqXxx keep their context in DriverContext[3]. */
static void hw_csq_forget_context(PIRP Irp)
{
    PIO_CSQ_IRP_CONTEXT context = (PIO_CSQ_IRP_CONTEXT)Irp->Tail.Overlay.DriverContext[3];

    if (context != NULL && (void *)context != (void *)context->Csq && context->Type == HW_IO_TYPE_CSQ_IRP_CONTEXT &&
        context->Irp == Irp)
    {
        context->Irp = NULL;
    }
    Irp->Tail.Overlay.DriverContext[3] = NULL;
}

VOID IoCsqInsertIrp(PIO_CSQ Csq, PIRP Irp, PIO_CSQ_IRP_CONTEXT Context)
{
    NTSTATUS fail;
    HW_IRP *w;
    KIRQL irql;

    (void)hw_api_enter(HW_API_IoCsqInsertIrp, &fail);
    w = hw_irp_of(Irp, "IoCsqInsertIrp");
    if (w == NULL || !hw_csq_valid(Csq, "IoCsqInsertIrp"))
    {
        return;
    }
    if (__atomic_load_n(&w->CancelCsq, __ATOMIC_RELAXED) != NULL)
    {
        hw_violation("IoCsqInsertIrp(%s #%lld): the IRP is already in a cancel-safe queue", hw_major_name(w->Major),
                     (long long)w->Id);
        return;
    }
    Csq->CsqAcquireLock(Csq, &irql);
    Csq->CsqInsertIrp(Csq, Irp);
    /* IoMarkIrpPending, without rewriting a flag that is already set. */
    if ((w->Stack.Control & SL_PENDING_RETURNED) == 0)
    {
        IoMarkIrpPending(Irp);
    }
    __atomic_store_n(&w->MarkedPending, 1, __ATOMIC_RELAXED);
    if (Context != NULL)
    {
        Context->Type = HW_IO_TYPE_CSQ_IRP_CONTEXT;
        Context->Irp = Irp;
        Context->Csq = Csq;
        Irp->Tail.Overlay.DriverContext[3] = Context;
    }
    else
    {
        Irp->Tail.Overlay.DriverContext[3] = Csq;
    }
    __atomic_store_n(&w->CancelCsq, Csq, __ATOMIC_RELAXED);
    if (__atomic_load_n(&Irp->Cancel, __ATOMIC_RELAXED) &&
        __atomic_exchange_n(&w->CancelCsq, NULL, __ATOMIC_RELAXED) != NULL)
    {
        /* Cancelled before it was queued: take it out again and let the driver complete it. */
        Csq->CsqRemoveIrp(Csq, Irp);
        hw_csq_forget_context(Irp);
        Csq->CsqReleaseLock(Csq, irql);
        Csq->CsqCompleteCanceledIrp(Csq, Irp);
        return;
    }
    Csq->CsqReleaseLock(Csq, irql);
}

PIRP IoCsqRemoveNextIrp(PIO_CSQ Csq, PVOID PeekContext)
{
    NTSTATUS fail;
    KIRQL irql;
    PIRP irp;

    (void)hw_api_enter(HW_API_IoCsqRemoveNextIrp, &fail);
    if (!hw_csq_valid(Csq, "IoCsqRemoveNextIrp"))
    {
        return NULL;
    }
    Csq->CsqAcquireLock(Csq, &irql);
    irp = Csq->CsqPeekNextIrp(Csq, NULL, PeekContext);
    while (irp != NULL)
    {
        HW_IRP *w = hw_irp_of(irp, "CsqPeekNextIrp result");

        if (w == NULL)
        {
            irp = NULL;
            break;
        }
        /* Clearing the cancel routine wins the race against a cancellation in flight. */
        if (__atomic_exchange_n(&w->CancelCsq, NULL, __ATOMIC_RELAXED) != NULL)
        {
            Csq->CsqRemoveIrp(Csq, irp);
            hw_csq_forget_context(irp);
            break;
        }
        irp = Csq->CsqPeekNextIrp(Csq, irp, PeekContext);
    }
    Csq->CsqReleaseLock(Csq, irql);
    return irp;
}

/* -- handles and requests: the test hooks ------------------------------------------------------ */

static PFILE_OBJECT hw_file_find_locked(int64_t handle)
{
    PFILE_OBJECT file;

    for (file = g_files; file != NULL; file = file->Next)
    {
        if (file->Handle == handle)
        {
            return file;
        }
    }
    return NULL;
}

int64_t HostWdk_Open(const char *path)
{
    char link[HW_NAME_MAX];
    char target[HW_NAME_MAX] = "";
    HW_LINK *it;
    PDEVICE_OBJECT device = NULL;
    PFILE_OBJECT file;
    NTSTATUS status;

    if (path == NULL || strncmp(path, "\\\\.\\", 4) != 0 || path[4] == '\0')
    {
        hw_log("HostWdk_Open(\"%s\"): not a \\\\.\\Name path", path ? path : "(null)");
        return (int64_t)STATUS_OBJECT_NAME_INVALID;
    }
    snprintf(link, sizeof(link), "\\??\\%s", path + 4);
    pthread_mutex_lock(&g_io_mutex);
    for (it = g_links; it != NULL; it = it->Next)
    {
        if (strcasecmp(it->Link, link) == 0)
        {
            snprintf(target, sizeof(target), "%s", it->Target);
            device = hw_find_device_locked(target);
            break;
        }
    }
    if (!g_loaded)
    {
        device = NULL;
    }
    pthread_mutex_unlock(&g_io_mutex);
    if (device == NULL)
    {
        hw_log("HostWdk_Open(\"%s\") -> STATUS_OBJECT_NAME_NOT_FOUND (link \"%s\" -> \"%s\")", path, link, target);
        return (int64_t)STATUS_OBJECT_NAME_NOT_FOUND;
    }
    file = calloc(1, sizeof(*file));
    if (file == NULL)
    {
        return (int64_t)STATUS_INSUFFICIENT_RESOURCES;
    }
    file->Magic = HW_FILE_MAGIC;
    file->DeviceObject = device;
    file->References = 1; /* the handle's */
    status = hw_send_sync(IRP_MJ_CREATE, file);
    hw_log("HostWdk_Open(\"%s\") -> IRP_MJ_CREATE 0x%08X", path, (unsigned)status);
    pthread_mutex_lock(&g_io_mutex);
    if (!NT_SUCCESS(status))
    {
        hw_file_release_locked(file);
        pthread_mutex_unlock(&g_io_mutex);
        return (int64_t)status;
    }
    file->Handle = ++g_next_handle;
    file->Next = g_files;
    g_files = file;
    g_files_count++;
    pthread_mutex_unlock(&g_io_mutex);
    return file->Handle;
}

int32_t HostWdk_Close(int64_t handle)
{
    PFILE_OBJECT file;
    PFILE_OBJECT *it;
    HW_IRP *w;
    NTSTATUS status;
    uint32_t left = 0;

    pthread_mutex_lock(&g_io_mutex);
    file = hw_file_find_locked(handle);
    if (file != NULL)
    {
        for (it = &g_files; *it != NULL; it = &(*it)->Next)
        {
            if (*it == file)
            {
                *it = file->Next;
                g_files_count--;
                break;
            }
        }
    }
    pthread_mutex_unlock(&g_io_mutex);
    if (file == NULL)
    {
        return STATUS_INVALID_HANDLE;
    }
    (void)hw_send_sync(IRP_MJ_CLEANUP, file);
    pthread_mutex_lock(&g_io_mutex);
    for (w = g_irps; w != NULL; w = w->Next)
    {
        if (w->Stack.FileObject == file && !w->Completed)
        {
            left++;
        }
    }
    pthread_mutex_unlock(&g_io_mutex);
    if (left > 0)
    {
        hw_violation("IRP_MJ_CLEANUP of handle %lld left %u request(s) of that handle pending", (long long)handle, left);
    }
    status = hw_send_sync(IRP_MJ_CLOSE, file);
    hw_log("HostWdk_Close(%lld) -> IRP_MJ_CLOSE 0x%08X", (long long)handle, (unsigned)status);
    pthread_mutex_lock(&g_io_mutex);
    hw_file_release_locked(file); /* the handle's reference; pending IRPs keep theirs */
    pthread_mutex_unlock(&g_io_mutex);
    return status;
}

int32_t HostWdk_DeviceIoControl(int64_t handle, uint32_t code, const void *input, uint32_t input_length, void *output,
                                uint32_t output_length, uint64_t *information, int64_t *request)
{
    PFILE_OBJECT file;
    HW_IRP *w;
    size_t size = input_length > output_length ? input_length : output_length;
    NTSTATUS returned;
    NTSTATUS status;

    if (information != NULL)
    {
        *information = 0;
    }
    if (request != NULL)
    {
        *request = 0;
    }
    if ((code & 3u) != METHOD_BUFFERED)
    {
        hw_log("HostWdk_DeviceIoControl(0x%08X): only METHOD_BUFFERED is modelled", (unsigned)code);
        return STATUS_NOT_IMPLEMENTED;
    }
    if ((input_length > 0 && input == NULL) || (output_length > 0 && output == NULL))
    {
        return STATUS_INVALID_PARAMETER;
    }
    pthread_mutex_lock(&g_io_mutex);
    file = hw_file_find_locked(handle);
    if (file != NULL)
    {
        file->References++; /* until the IRP is linked (it takes its own) */
    }
    pthread_mutex_unlock(&g_io_mutex);
    if (file == NULL)
    {
        return STATUS_INVALID_HANDLE;
    }
    w = hw_irp_new(IRP_MJ_DEVICE_CONTROL, file);
    if (w == NULL)
    {
        pthread_mutex_lock(&g_io_mutex);
        hw_file_release_locked(file);
        pthread_mutex_unlock(&g_io_mutex);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    if (size > 0)
    {
        /* max(in, out), then the guard zone (none under ASan, which sees overruns itself) */
        w->Irp.AssociatedIrp.SystemBuffer = malloc(size + HW_SYSTEM_BUFFER_GUARD);
        if (w->Irp.AssociatedIrp.SystemBuffer == NULL)
        {
            free(w);
            pthread_mutex_lock(&g_io_mutex);
            hw_file_release_locked(file);
            pthread_mutex_unlock(&g_io_mutex);
            return STATUS_INSUFFICIENT_RESOURCES;
        }
        memset(w->Irp.AssociatedIrp.SystemBuffer, HW_FILL, size + HW_SYSTEM_BUFFER_GUARD);
        w->SystemBufferLength = size;
        if (input_length > 0)
        {
            memcpy(w->Irp.AssociatedIrp.SystemBuffer, input, input_length);
        }
    }
    w->Irp.UserBuffer = output;
    w->UserOutput = output;
    w->OutputLength = output_length;
    w->Stack.Parameters.DeviceIoControl.OutputBufferLength = output_length;
    w->Stack.Parameters.DeviceIoControl.InputBufferLength = input_length;
    w->Stack.Parameters.DeviceIoControl.IoControlCode = code;
    w->Stack.Parameters.DeviceIoControl.Type3InputBuffer = NULL;
    hw_irp_link(w);
    pthread_mutex_lock(&g_io_mutex);
    hw_file_release_locked(file); /* the IRP holds its own reference now */
    pthread_mutex_unlock(&g_io_mutex);
    returned = hw_dispatch(w);
    pthread_mutex_lock(&g_io_mutex);
    if (returned == STATUS_PENDING || !w->Completed)
    {
        if (request != NULL)
        {
            *request = w->Id;
        }
        pthread_mutex_unlock(&g_io_mutex);
        hw_log("HostWdk_DeviceIoControl(%lld, 0x%08X, in %u, out %u) -> STATUS_PENDING (request %lld)",
               (long long)handle, (unsigned)code, input_length, output_length, (long long)w->Id);
        return STATUS_PENDING;
    }
    status = hw_finish_locked(w, information);
    pthread_mutex_unlock(&g_io_mutex);
    hw_log("HostWdk_DeviceIoControl(%lld, 0x%08X, in %u, out %u) -> 0x%08X", (long long)handle, (unsigned)code,
           input_length, output_length, (unsigned)status);
    return status;
}

int32_t HostWdk_Wait(int64_t request, uint32_t timeout_ms, uint64_t *information)
{
    HW_IRP *w;
    NTSTATUS status;

    if (information != NULL)
    {
        *information = 0;
    }
    pthread_mutex_lock(&g_io_mutex);
    w = hw_irp_find_locked(request);
    if (w == NULL || w->Major != IRP_MJ_DEVICE_CONTROL)
    {
        pthread_mutex_unlock(&g_io_mutex);
        return STATUS_INVALID_PARAMETER;
    }
    if (!hw_wait_locked(w, timeout_ms))
    {
        pthread_mutex_unlock(&g_io_mutex);
        return STATUS_PENDING;
    }
    status = hw_finish_locked(w, information);
    pthread_mutex_unlock(&g_io_mutex);
    return status;
}

int32_t HostWdk_Cancel(int64_t request)
{
    HW_IRP *w;
    PIO_CSQ csq;
    const char *previous;
    KIRQL irql;

    pthread_mutex_lock(&g_io_mutex);
    w = hw_irp_find_locked(request);
    if (w == NULL)
    {
        pthread_mutex_unlock(&g_io_mutex);
        return STATUS_INVALID_PARAMETER;
    }
    if (w->Completed)
    {
        pthread_mutex_unlock(&g_io_mutex);
        return STATUS_UNSUCCESSFUL;
    }
    __atomic_store_n(&w->Irp.Cancel, TRUE, __ATOMIC_RELAXED);
    csq = __atomic_exchange_n(&w->CancelCsq, NULL, __ATOMIC_RELAXED);
    if (csq == NULL)
    {
        pthread_mutex_unlock(&g_io_mutex);
        hw_log("HostWdk_Cancel(%lld): no cancel routine (not in a cancel-safe queue); Irp->Cancel set",
               (long long)request);
        return STATUS_UNSUCCESSFUL;
    }
    w->Refs++;
    pthread_mutex_unlock(&g_io_mutex);

    /* The cancel-safe queue's cancel routine, as IoCancelIrp runs it (after dropping the
     * cancel spin lock): lock the queue, remove the IRP, unlock, let the driver complete it. */
    hw_log("HostWdk_Cancel(%lld): running the cancel routine", (long long)request);
    previous = hw_enter_driver("cancel routine", PASSIVE_LEVEL);
    csq->CsqAcquireLock(csq, &irql);
    csq->CsqRemoveIrp(csq, &w->Irp);
    hw_csq_forget_context(&w->Irp);
    csq->CsqReleaseLock(csq, irql);
    csq->CsqCompleteCanceledIrp(csq, &w->Irp);
    hw_leave_driver("cancel-safe queue callbacks (cancel)", PASSIVE_LEVEL, previous, PASSIVE_LEVEL);

    pthread_mutex_lock(&g_io_mutex);
    w->Refs--;
    if (!w->Completed)
    {
        pthread_mutex_unlock(&g_io_mutex);
        hw_violation("CsqCompleteCanceledIrp did not complete the cancelled IRP #%lld", (long long)request);
        pthread_mutex_lock(&g_io_mutex);
    }
    pthread_cond_broadcast(&g_io_cond);
    pthread_mutex_unlock(&g_io_mutex);
    return STATUS_SUCCESS;
}

/* -- load and unload ----------------------------------------------------------------------------- */

static void hw_audit(const char *prefix)
{
    uint32_t held = hw_locks_held_total();

    hw_fwp_audit(prefix);
    hw_etw_audit(prefix);
    hw_io_audit(prefix);
    hw_pool_audit(prefix);
    if (held > 0)
    {
        hw_violation("%s%u spin lock(s) are still held", prefix, held);
    }
}

int32_t HostWdk_LoadDriver(void)
{
    static WCHAR registry[] = L"\\Registry\\Machine\\System\\CurrentControlSet\\Services\\HostWdkDriver";
    static WCHAR driverName[] = L"\\Driver\\HostWdkDriver";
    UNICODE_STRING path;
    const char *previous;
    NTSTATUS status;
    char prefix[96];
    int i;

    if (g_loaded)
    {
        hw_log("HostWdk_LoadDriver: the driver is already loaded");
        return (int32_t)0xC000010EL; /* STATUS_IMAGE_ALREADY_LOADED */
    }
    memset(&g_driver, 0, sizeof(g_driver));
    g_driver.Type = 4; /* IO_TYPE_DRIVER */
    g_driver.Size = (CSHORT)sizeof(g_driver);
    g_driver.DriverName.Buffer = driverName;
    g_driver.DriverName.Length = (USHORT)(sizeof(driverName) - sizeof(WCHAR));
    g_driver.DriverName.MaximumLength = (USHORT)sizeof(driverName);
    g_driver.DriverInit = DriverEntry;
    for (i = 0; i <= IRP_MJ_MAXIMUM_FUNCTION; i++)
    {
        g_driver.MajorFunction[i] = hw_invalid_request;
    }
    path.Buffer = registry;
    path.Length = (USHORT)(sizeof(registry) - sizeof(WCHAR));
    path.MaximumLength = (USHORT)sizeof(registry);

    hw_log("HostWdk_LoadDriver: calling DriverEntry");
    previous = hw_enter_driver("DriverEntry", PASSIVE_LEVEL);
    status = DriverEntry(&g_driver, &path);
    hw_leave_driver("DriverEntry", PASSIVE_LEVEL, previous, PASSIVE_LEVEL);
    hw_log("HostWdk_LoadDriver: DriverEntry returned 0x%08X", (unsigned)status);
    if (NT_SUCCESS(status))
    {
        for (i = 0; i <= IRP_MJ_MAXIMUM_FUNCTION; i++)
        {
            if (g_driver.MajorFunction[i] == NULL)
            {
                hw_violation("DriverEntry set DriverObject->MajorFunction[0x%02x] to NULL", (unsigned)i);
                g_driver.MajorFunction[i] = hw_invalid_request;
            }
        }
        pthread_mutex_lock(&g_io_mutex);
        g_loaded = TRUE;
        pthread_mutex_unlock(&g_io_mutex);
        return status;
    }
    snprintf(prefix, sizeof(prefix), "DriverEntry failed with 0x%08X but left: ", (unsigned)status);
    hw_audit(prefix);
    return status;
}

uint32_t HostWdk_UnloadDriver(void)
{
    const char *previous;

    if (g_loaded)
    {
        if (g_driver.DriverUnload != NULL)
        {
            hw_log("HostWdk_UnloadDriver: calling DriverUnload");
            previous = hw_enter_driver("DriverUnload", PASSIVE_LEVEL);
            g_driver.DriverUnload(&g_driver);
            hw_leave_driver("DriverUnload", PASSIVE_LEVEL, previous, PASSIVE_LEVEL);
        }
        else
        {
            hw_violation("the driver set no DriverUnload routine: it cannot be unloaded");
        }
        pthread_mutex_lock(&g_io_mutex);
        g_loaded = FALSE;
        pthread_mutex_unlock(&g_io_mutex);
        hw_audit("after unload: ");
    }
    return HostWdk_ViolationCount();
}

/* -- counters, audit, reset ------------------------------------------------------------------------ */

void hw_io_counters(HOSTWDK_COUNTERS *counters)
{
    pthread_mutex_lock(&g_io_mutex);
    counters->devices = g_devices_count;
    counters->symbolic_links = g_links_count;
    counters->pending_irps = g_pending_count;
    counters->open_handles = g_files_count;
    pthread_mutex_unlock(&g_io_mutex);
}

void hw_io_audit(const char *prefix)
{
    HW_TEXT lines = {0};
    PDEVICE_OBJECT device;
    HW_LINK *link;
    HW_IRP *w;
    char *line;
    char *next;

    pthread_mutex_lock(&g_io_mutex);
    for (device = g_devices; device != NULL; device = device->Next)
    {
        hw_text_append(&lines, "device object \"%s\" was never deleted\n", device->Name);
    }
    for (link = g_links; link != NULL; link = link->Next)
    {
        hw_text_append(&lines, "symbolic link \"%s\" -> \"%s\" was never deleted\n", link->Link, link->Target);
    }
    for (w = g_irps; w != NULL; w = w->Next)
    {
        if (!w->Completed)
        {
            hw_text_append(&lines, "%s request #%lld was never completed\n", hw_major_name(w->Major),
                           (long long)w->Id);
        }
    }
    if (g_files_count > 0)
    {
        hw_text_append(&lines, "%u handle(s) are still open (the harness did not close them)\n", g_files_count);
    }
    pthread_mutex_unlock(&g_io_mutex);
    for (line = lines.Data; line != NULL && *line != '\0'; line = next)
    {
        next = strchr(line, '\n');
        *next++ = '\0';
        hw_violation("%s%s", prefix, line);
    }
    hw_text_free(&lines);
}

void hw_io_reset(void)
{
    pthread_mutex_lock(&g_io_mutex);
    while (g_irps != NULL)
    {
        g_irps->Refs = 0;
        hw_irp_free_locked(g_irps);
    }
    while (g_files != NULL)
    {
        PFILE_OBJECT file = g_files;

        g_files = file->Next;
        hw_file_release_locked(file);
    }
    while (g_links != NULL)
    {
        HW_LINK *link = g_links;

        g_links = link->Next;
        free(link);
    }
    while (g_devices != NULL)
    {
        PDEVICE_OBJECT device = g_devices;

        g_devices = device->Next;
        free(device->DeviceExtension);
        free(device);
    }
    g_devices_count = 0;
    g_links_count = 0;
    g_files_count = 0;
    g_pending_count = 0;
    g_loaded = FALSE;
    memset(&g_driver, 0, sizeof(g_driver));
    pthread_cond_broadcast(&g_io_cond);
    pthread_mutex_unlock(&g_io_mutex);
}
