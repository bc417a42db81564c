"""classifyFn's layerData as a NET_BUFFER_LIST in the host runtime (``Metadata(net_buffers=...)``).

The harness gives the length of each packet; the runtime builds one NET_BUFFER_LIST per classify
(on the classifying thread's stack) whose NET_BUFFER chain holds them, and passes it to every
classifyFn of the classify. A small hand-written driver registers two inspection callouts at
OUTBOUND_TRANSPORT_V4 that walk layerData with the NDIS accessor macros (NET_BUFFER_LIST_FIRST_NB,
NET_BUFFER_NEXT_NB, NET_BUFFER_DATA_LENGTH, NET_BUFFER_DATA_OFFSET, NET_BUFFER_LIST_NEXT_NBL) and
record what they saw in exported globals:

* no ``net_buffers``: layerData is NULL, as before;
* 1 and 3 NET_BUFFERs: count, total length, offsets 0, one list; payload bytes after the
  transport header (the outbound transport layers' data offset position);
* more than HOSTWDK_MAX_NET_BUFFERS (64): STATUS_INVALID_PARAMETER, and so is a count at a
  stream layer (whose layerData is no NET_BUFFER_LIST); 64 is fine;
* HostWdk_ClassifyRepeat passes the list on every round; threads classifying different lists at
  once each see their own;
* a classifyFn that leaves a NET_BUFFER advanced is reported, and the next callout sees the
  packets as indicated;
* the same driver source compiles in the MinGW-w64 cross build (the cross-build ndis.h).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from wfpgen import crossbuild
from wfpgen.hostsim.binding import (
    MAX_NET_BUFFERS,
    STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS,
    HostDriver,
    Metadata,
)
from wfpgen.hostsim.build import build_shared

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None, reason="gcc is not installed: the host simulation cannot be built"
)

# g_Mode values (the driver's enum)
CORRECT, ADVANCE_AND_KEEP = range(2)

NB_DRIVER = r"""
#include <ntddk.h>
#include <ndis.h>
#include <fwpsk.h>
#include <fwpmk.h>

enum
{
    MODE_CORRECT,
    MODE_ADVANCE_AND_KEEP /* the first callout advances the first NET_BUFFER and does not retreat */
};

/* Read and set by the test through the shared library's symbols. */
volatile LONG g_Mode;
volatile LONG g_Calls;        /* classifyFn calls of the first callout */
volatile LONG g_NullCalls;    /* ... with layerData NULL */
volatile LONG g_Lists;        /* NET_BUFFER_LISTs in the last layerData */
volatile LONG g_Buffers;      /* NET_BUFFERs in the last layerData */
volatile LONG g_Bytes;        /* their total DataLength */
volatile LONG g_Offsets;      /* their total DataOffset */
volatile LONG g_Payload;      /* g_Bytes less a transport header per NET_BUFFER (when given) */
volatile LONG g_TotalBuffers; /* NET_BUFFERs over every call */
volatile LONG g_TotalBytes;   /* bytes over every call */
volatile LONG g_Mismatches;   /* calls whose NET_BUFFERs were not all 1000 * count bytes long */
volatile LONG g_SecondBytes;  /* total DataLength the second callout saw last */

static const GUID g_FirstKey = {0x6b2d0001, 0x2222, 0x4333, {0x84, 0x44, 0x55, 0x55, 0x66, 0x66, 0x77, 0x77}};
static const GUID g_SecondKey = {0x6b2d0002, 0x2222, 0x4333, {0x84, 0x44, 0x55, 0x55, 0x66, 0x66, 0x77, 0x77}};
static PDEVICE_OBJECT g_Device;
static HANDLE g_Engine;
static UINT32 g_FirstId;
static UINT32 g_SecondId;

DRIVER_INITIALIZE DriverEntry;
DRIVER_UNLOAD NbUnload;

static NTSTATUS NTAPI Notify(FWPS_CALLOUT_NOTIFY_TYPE type, const GUID *filterKey, FWPS_FILTER3 *filter)
{
    UNREFERENCED_PARAMETER(type);
    UNREFERENCED_PARAMETER(filterKey);
    UNREFERENCED_PARAMETER(filter);
    return STATUS_SUCCESS;
}

static void NTAPI ClassifyFirst(const FWPS_INCOMING_VALUES0 *values, const FWPS_INCOMING_METADATA_VALUES0 *meta,
                                void *layerData, const void *classifyContext, const FWPS_FILTER3 *filter,
                                UINT64 flowContext, FWPS_CLASSIFY_OUT0 *out)
{
    NET_BUFFER_LIST *nbl;
    NET_BUFFER *nb;
    LONG lists = 0;
    LONG buffers = 0;
    LONG bytes = 0;
    LONG offsets = 0;
    LONG payload = 0;
    BOOLEAN uniform = TRUE;

    UNREFERENCED_PARAMETER(values);
    UNREFERENCED_PARAMETER(classifyContext);
    UNREFERENCED_PARAMETER(filter);
    UNREFERENCED_PARAMETER(flowContext);
    UNREFERENCED_PARAMETER(out);
    InterlockedIncrement(&g_Calls);
    if (layerData == NULL)
    {
        InterlockedIncrement(&g_NullCalls);
        return;
    }
    for (nbl = (NET_BUFFER_LIST *)layerData; nbl != NULL; nbl = NET_BUFFER_LIST_NEXT_NBL(nbl))
    {
        lists++;
        for (nb = NET_BUFFER_LIST_FIRST_NB(nbl); nb != NULL; nb = NET_BUFFER_NEXT_NB(nb))
        {
            ULONG length = NET_BUFFER_DATA_LENGTH(nb);

            buffers++;
            bytes += (LONG)length;
            offsets += (LONG)NET_BUFFER_DATA_OFFSET(nb);
            if (FWPS_IS_METADATA_FIELD_PRESENT(meta, FWPS_METADATA_FIELD_TRANSPORT_HEADER_SIZE) &&
                length >= meta->transportHeaderSize)
            {
                payload += (LONG)(length - meta->transportHeaderSize);
            }
        }
    }
    for (nb = NET_BUFFER_LIST_FIRST_NB((NET_BUFFER_LIST *)layerData); nb != NULL; nb = NET_BUFFER_NEXT_NB(nb))
    {
        uniform = uniform && NET_BUFFER_DATA_LENGTH(nb) == 1000u * (ULONG)buffers;
    }
    if (!uniform)
    {
        InterlockedIncrement(&g_Mismatches);
    }
    /* The "last" values are written by one thread at a time in the tests that read them. */
    g_Lists = lists;
    g_Buffers = buffers;
    g_Bytes = bytes;
    g_Offsets = offsets;
    g_Payload = payload;
    g_TotalBuffers += buffers;
    g_TotalBytes += bytes;
    if (g_Mode == MODE_ADVANCE_AND_KEEP)
    {
        nb = NET_BUFFER_LIST_FIRST_NB((NET_BUFFER_LIST *)layerData);
        nb->DataOffset += 20; /* as NdisAdvanceNetBufferDataStart would, without the retreat */
        nb->DataLength -= 20;
    }
}

static void NTAPI ClassifySecond(const FWPS_INCOMING_VALUES0 *values, const FWPS_INCOMING_METADATA_VALUES0 *meta,
                                 void *layerData, const void *classifyContext, const FWPS_FILTER3 *filter,
                                 UINT64 flowContext, FWPS_CLASSIFY_OUT0 *out)
{
    NET_BUFFER *nb;
    LONG bytes = 0;

    UNREFERENCED_PARAMETER(values);
    UNREFERENCED_PARAMETER(meta);
    UNREFERENCED_PARAMETER(classifyContext);
    UNREFERENCED_PARAMETER(filter);
    UNREFERENCED_PARAMETER(flowContext);
    UNREFERENCED_PARAMETER(out);
    if (layerData == NULL)
    {
        return;
    }
    for (nb = NET_BUFFER_LIST_FIRST_NB((NET_BUFFER_LIST *)layerData); nb != NULL; nb = NET_BUFFER_NEXT_NB(nb))
    {
        bytes += (LONG)NET_BUFFER_DATA_LENGTH(nb);
    }
    g_SecondBytes = bytes;
}

VOID NbUnload(PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
    FwpmEngineClose0(g_Engine);
    FwpsCalloutUnregisterById0(g_SecondId);
    FwpsCalloutUnregisterById0(g_FirstId);
    IoDeleteDevice(g_Device);
}

static NTSTATUS AddCallout(const GUID *key, UINT64 weight)
{
    FWPM_CALLOUT0 callout = {0};
    FWPM_FILTER0 filter = {0};
    NTSTATUS status;

    callout.calloutKey = *key;
    callout.displayData.name = L"net buffer test";
    callout.applicableLayer = FWPM_LAYER_OUTBOUND_TRANSPORT_V4;
    status = FwpmCalloutAdd0(g_Engine, &callout, NULL, NULL);
    if (!NT_SUCCESS(status))
    {
        return status;
    }
    filter.displayData.name = L"net buffer test";
    filter.layerKey = FWPM_LAYER_OUTBOUND_TRANSPORT_V4;
    filter.action.type = FWP_ACTION_CALLOUT_INSPECTION;
    filter.action.calloutKey = *key;
    filter.weight.type = FWP_UINT64;
    filter.weight.uint64 = &weight;
    return FwpmFilterAdd0(g_Engine, &filter, NULL, NULL);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    UNICODE_STRING name = RTL_CONSTANT_STRING(L"\\Device\\HwNetBuffers");
    FWPS_CALLOUT3 first = {0};
    FWPS_CALLOUT3 second = {0};
    FWPM_SESSION0 session = {0};
    NTSTATUS status;

    UNREFERENCED_PARAMETER(RegistryPath);
    status = IoCreateDevice(DriverObject, 0, &name, FILE_DEVICE_NETWORK, 0, FALSE, &g_Device);
    if (!NT_SUCCESS(status))
    {
        return status;
    }
    first.calloutKey = g_FirstKey;
    first.classifyFn = ClassifyFirst;
    first.notifyFn = Notify;
    second.calloutKey = g_SecondKey;
    second.classifyFn = ClassifySecond;
    second.notifyFn = Notify;
    session.flags = FWPM_SESSION_FLAG_DYNAMIC;
    if (!NT_SUCCESS(status = FwpsCalloutRegister3(g_Device, &first, &g_FirstId)) ||
        !NT_SUCCESS(status = FwpsCalloutRegister3(g_Device, &second, &g_SecondId)) ||
        !NT_SUCCESS(status = FwpmEngineOpen0(NULL, RPC_C_AUTHN_WINNT, NULL, &session, &g_Engine)) ||
        !NT_SUCCESS(status = AddCallout(&g_FirstKey, 2)) || /* heavier: runs first */
        !NT_SUCCESS(status = AddCallout(&g_SecondKey, 1)))
    {
        return status; /* the tests never fail these */
    }
    DriverObject->DriverUnload = NbUnload;
    return STATUS_SUCCESS;
}
"""

LAYER = "FWPS_LAYER_OUTBOUND_TRANSPORT_V4"
INVALID = STATUS_INVALID_PARAMETER & 0xFFFFFFFF  # 0xC000000D, as NbDriver.status reads it
GLOBALS = (
    "g_Calls",
    "g_NullCalls",
    "g_Lists",
    "g_Buffers",
    "g_Bytes",
    "g_Offsets",
    "g_Payload",
    "g_TotalBuffers",
    "g_TotalBytes",
    "g_Mismatches",
    "g_SecondBytes",
)


@pytest.fixture(scope="module")
def nb_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("netbuffers")
    (root / "driver").mkdir()
    (root / "driver" / "netbuffers.c").write_text(NB_DRIVER, encoding="utf-8")
    return build_shared(root, root / "netbuffers.so")


class NbDriver:
    """The test driver loaded in one mode, with its globals at hand."""

    def __init__(self, library: Path, mode: int = CORRECT) -> None:
        self.host = HostDriver(library)
        self.host.reset()
        self.lib = self.host.lib
        for name in GLOBALS:
            self.global_(name).value = 0
        self.global_("g_Mode").value = mode
        assert self.host.load() == STATUS_SUCCESS, self.host.violations()
        self.layer = self.host.layer_id(LAYER)

    def global_(self, name: str) -> ctypes.c_int32:
        return ctypes.c_int32.in_dll(self.lib, name)

    def value(self, name: str) -> int:
        return self.global_(name).value

    def seen(self) -> dict[str, int]:
        return {name: self.value(name) for name in ("g_Lists", "g_Buffers", "g_Bytes", "g_Offsets")}

    def status(self, metadata: Metadata, layer: int | None = None) -> int:
        """HostWdk_Classify's NTSTATUS, as an unsigned number (the binding raises on failures, naming it)."""
        try:
            self.host.classify(self.layer if layer is None else layer, [], metadata)
        except RuntimeError as error:
            return int(str(error).rsplit("0x", 1)[1], 16)
        return STATUS_SUCCESS

    def unload_clean(self) -> None:
        assert self.host.unload() == 0, self.host.violations()
        assert self.host.counters().nonzero() == {}


def test_layer_data_is_null_without_net_buffers(nb_library: Path) -> None:
    driver = NbDriver(nb_library)
    verdict = driver.host.classify(driver.layer, [])  # no metadata at all
    assert verdict.callouts_invoked == 2
    driver.host.classify(driver.layer, [], Metadata(flow_handle=5))  # metadata, no packets
    driver.host.classify(driver.layer, [], Metadata(net_buffers=()))
    assert driver.value("g_Calls") == 3 and driver.value("g_NullCalls") == 3
    assert driver.value("g_Buffers") == 0
    driver.unload_clean()


@pytest.mark.parametrize("lengths", [(1500,), (40, 1200, 576)], ids=["one", "three"])
def test_count_and_length_of_the_net_buffers(nb_library: Path, lengths: tuple[int, ...]) -> None:
    driver = NbDriver(nb_library)
    verdict = driver.host.classify(driver.layer, [], Metadata(net_buffers=lengths))
    assert verdict.callouts_invoked == 2
    assert driver.value("g_NullCalls") == 0
    assert driver.seen() == {"g_Lists": 1, "g_Buffers": len(lengths), "g_Bytes": sum(lengths), "g_Offsets": 0}
    assert driver.value("g_SecondBytes") == sum(lengths)  # every callout of the classify gets the list
    assert driver.host.violations() == []
    driver.unload_clean()


def test_outbound_transport_lengths_include_the_transport_header(nb_library: Path) -> None:
    # At the outbound transport layers each NET_BUFFER starts at the transport header: the
    # harness gives header + payload, and the header's size as metadata.
    driver = NbDriver(nb_library)
    driver.host.classify(
        driver.layer, [], Metadata(transport_header_size=20, net_buffers=(20 + 100, 20 + 1400))
    )
    assert driver.value("g_Bytes") == 1540 and driver.value("g_Payload") == 1500
    driver.unload_clean()


def test_too_many_net_buffers_is_an_invalid_parameter(nb_library: Path) -> None:
    driver = NbDriver(nb_library)
    assert driver.status(Metadata(net_buffers=(1,) * (MAX_NET_BUFFERS + 1))) == INVALID
    assert driver.value("g_Calls") == 0  # refused before any callout ran
    lengths = tuple(range(1, MAX_NET_BUFFERS + 1))
    assert driver.status(Metadata(net_buffers=lengths)) == STATUS_SUCCESS
    assert driver.seen() == {
        "g_Lists": 1,
        "g_Buffers": MAX_NET_BUFFERS,
        "g_Bytes": sum(lengths),
        "g_Offsets": 0,
    }
    # A stream layer's layerData is an FWPS_STREAM_CALLOUT_IO_PACKET0, never a NET_BUFFER_LIST.
    stream = driver.host.layer_id("FWPS_LAYER_STREAM_V4")
    assert driver.status(Metadata(net_buffers=(10,)), stream) == INVALID
    assert driver.status(Metadata(), stream) == STATUS_SUCCESS
    with pytest.raises(ValueError, match="ULONG"):
        driver.host.classify(driver.layer, [], Metadata(net_buffers=(1 << 32,)))
    driver.unload_clean()


def test_classify_repeat_passes_the_list_every_time(nb_library: Path) -> None:
    driver = NbDriver(nb_library)
    verdict = driver.host.classify_repeat(driver.layer, [], Metadata(net_buffers=(100, 200, 300)), 50)
    assert verdict.callouts_invoked == 2
    assert driver.value("g_Calls") == 50 and driver.value("g_NullCalls") == 0
    assert driver.value("g_TotalBuffers") == 150 and driver.value("g_TotalBytes") == 50 * 600
    assert driver.host.violations() == []
    driver.unload_clean()


def test_threads_each_get_their_own_list(nb_library: Path) -> None:
    # Thread t classifies t + 1 NET_BUFFERs of 1000 * (t + 1) bytes each, many times in one C call
    # (the GIL released): the driver counts any list that is not uniform in that way.
    driver = NbDriver(nb_library)
    errors: list[RuntimeError] = []

    def run(t: int) -> None:
        count = t + 1
        try:
            driver.host.classify_repeat(driver.layer, [], Metadata(net_buffers=(1000 * count,) * count), 2000)
        except RuntimeError as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert driver.value("g_Calls") == 4 * 2000
    assert driver.value("g_Mismatches") == 0
    driver.unload_clean()


def test_a_net_buffer_left_advanced_is_reported(nb_library: Path) -> None:
    driver = NbDriver(nb_library, ADVANCE_AND_KEEP)
    driver.host.classify(driver.layer, [], Metadata(net_buffers=(500, 700)))
    violations = driver.host.violations()
    assert any("NET_BUFFER_LIST of layerData changed" in v for v in violations), violations
    assert driver.value("g_SecondBytes") == 1200  # the next callout gets the packets as indicated
    driver.host.unload()


@pytest.mark.skipif(
    shutil.which(crossbuild.CC) is None or not (crossbuild.DDK_INCLUDE_DIR / "ntddk.h").is_file(),
    reason=f"{crossbuild.CC} or the MinGW-w64 ddk headers are not installed (apt-get install gcc-mingw-w64-x86-64)",
)
def test_the_driver_compiles_in_the_cross_build(tmp_path: Path) -> None:
    source = tmp_path / "netbuffers.c"
    source.write_text(NB_DRIVER, encoding="utf-8")
    command = crossbuild.compile_command(
        source, tmp_path / "netbuffers.o", ("NDIS630", "NDIS_SUPPORT_NDIS6", "POOL_NX_OPTIN=1")
    )
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
