"""Flow contexts in the host runtime: FwpsFlowAssociateContext0, flowContext, flowDeleteFn.

A small hand-written driver registers two callouts: one at ALE_FLOW_ESTABLISHED_V4 that allocates
a context per flow and associates it with the other, at OUTBOUND_TRANSPORT_V4, which counts the
flow's packets in it; flowDeleteFn frees it; unload removes what is left. ``g_FlowMode`` makes it
break one rule on request, and each broken rule must be reported by name:

* association: WFP's statuses (a second context on the same flow, callout and layer; the wrong
  layer; no flowDeleteFn), an injected failure (the driver frees what it allocated);
* classify: the flow's context reaches the target callout; a flow with none gives 0;
  FWP_CALLOUT_FLAG_CONDITIONAL_ON_FLOW skips the callout for flows without a context;
* deletion: the flow's end calls flowDeleteFn once; FwpsFlowRemoveContext0 from the callout's own
  classifyFn returns STATUS_PENDING and deletes when classifyFn returns; flows ending on one
  thread while others classify (run under ThreadSanitizer too);
* unload: contexts left associated, callouts unregistered before their contexts were removed
  (STATUS_DEVICE_BUSY), a context never freed, a context freed in classify and again in flowDeleteFn.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from wfpgen.hostsim.binding import STATUS_PENDING, STATUS_SUCCESS, HostDriver, Metadata
from wfpgen.hostsim.build import build_shared, sanitizer_env

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None, reason="gcc is not installed: the host simulation cannot be built"
)

STATUS_OBJECT_NAME_EXISTS = 0x40000000
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_UNSUCCESSFUL = 0xC0000001

# g_FlowMode values (the driver's enum)
CORRECT, UNREGISTER_FIRST, DELETE_LEAKS, FREE_IN_CLASSIFY, WRONG_LAYER, REMOVE_IN_CLASSIFY = range(6)
CONDITIONAL = 6

FLOW_DRIVER = r"""
#include <ntddk.h>
#include <ndis.h>
#include <fwpsk.h>
#include <fwpmk.h>

#define FLOW_TAG 0x776f6c46u /* 'Flow' */
#define MAX_FLOWS 256

enum
{
    MODE_CORRECT,
    MODE_UNREGISTER_FIRST, /* unload unregisters the callouts before removing the contexts */
    MODE_DELETE_LEAKS,     /* flowDeleteFn does not free the context */
    MODE_FREE_IN_CLASSIFY, /* the target classifyFn frees the context; flowDeleteFn frees it again */
    MODE_WRONG_LAYER,      /* associates with the establishing layer instead of the target's */
    MODE_REMOVE_IN_CLASSIFY,
    MODE_CONDITIONAL       /* the target callout is added with FWP_CALLOUT_FLAG_CONDITIONAL_ON_FLOW */
};

typedef struct _FLOW_CONTEXT
{
    UINT64 Flow;
    volatile LONG Packets;
} FLOW_CONTEXT;

/* Read and set by the test through the shared library's symbols. */
volatile LONG g_FlowMode;
volatile LONG g_Packets;
volatile LONG g_Unattributed;
volatile LONG g_Deleted;
volatile LONG g_LastAssociate;
volatile LONG g_LastRemove;
volatile LONG g_LastUnregister;

static const GUID g_EstablishedKey = {0x5a1c0001, 0x1111, 0x4222, {0x83, 0x33, 0x44, 0x44, 0x55, 0x55, 0x66, 0x66}};
static const GUID g_TargetKey = {0x5a1c0002, 0x1111, 0x4222, {0x83, 0x33, 0x44, 0x44, 0x55, 0x55, 0x66, 0x66}};
static PDEVICE_OBJECT g_Device;
static HANDLE g_Engine;
static UINT32 g_EstablishedId;
static UINT32 g_TargetId;
static KSPIN_LOCK g_Lock; /* guards g_Flows */
static UINT64 g_Flows[MAX_FLOWS];
static ULONG g_FlowCount;

DRIVER_INITIALIZE DriverEntry;
DRIVER_UNLOAD FlowUnload;

static void Track(UINT64 flow, BOOLEAN add)
{
    KIRQL irql;
    ULONG i;

    KeAcquireSpinLock(&g_Lock, &irql);
    if (add)
    {
        g_Flows[g_FlowCount++] = flow;
    }
    else
    {
        for (i = 0; i < g_FlowCount; i++)
        {
            if (g_Flows[i] == flow)
            {
                g_Flows[i] = g_Flows[--g_FlowCount];
                break;
            }
        }
    }
    KeReleaseSpinLock(&g_Lock, irql);
}

static NTSTATUS NTAPI Notify(FWPS_CALLOUT_NOTIFY_TYPE type, const GUID *filterKey, FWPS_FILTER3 *filter)
{
    UNREFERENCED_PARAMETER(type);
    UNREFERENCED_PARAMETER(filterKey);
    UNREFERENCED_PARAMETER(filter);
    return STATUS_SUCCESS;
}

static void NTAPI ClassifyEstablished(const FWPS_INCOMING_VALUES0 *values, const FWPS_INCOMING_METADATA_VALUES0 *meta,
                                      void *layerData, const void *classifyContext, const FWPS_FILTER3 *filter,
                                      UINT64 flowContext, FWPS_CLASSIFY_OUT0 *out)
{
    FLOW_CONTEXT *context;
    NTSTATUS status;
    KIRQL irql;
    BOOLEAN room;

    UNREFERENCED_PARAMETER(values);
    UNREFERENCED_PARAMETER(layerData);
    UNREFERENCED_PARAMETER(classifyContext);
    UNREFERENCED_PARAMETER(filter);
    UNREFERENCED_PARAMETER(flowContext);
    UNREFERENCED_PARAMETER(out);
    if (!FWPS_IS_METADATA_FIELD_PRESENT(meta, FWPS_METADATA_FIELD_FLOW_HANDLE))
    {
        return;
    }
    context = ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(*context), FLOW_TAG);
    if (context == NULL)
    {
        return;
    }
    context->Flow = meta->flowHandle;
    KeAcquireSpinLock(&g_Lock, &irql);
    room = g_FlowCount < MAX_FLOWS;
    if (room)
    {
        g_Flows[g_FlowCount++] = meta->flowHandle; /* before associating: flowDeleteFn may follow at once */
    }
    KeReleaseSpinLock(&g_Lock, irql);
    if (!room)
    {
        ExFreePoolWithTag(context, FLOW_TAG);
        return;
    }
    status = FwpsFlowAssociateContext0(meta->flowHandle,
                                       g_FlowMode == MODE_WRONG_LAYER ? FWPS_LAYER_ALE_FLOW_ESTABLISHED_V4
                                                                      : FWPS_LAYER_OUTBOUND_TRANSPORT_V4,
                                       g_TargetId, (UINT64)(ULONG_PTR)context);
    g_LastAssociate = status; /* the tests establish flows from one thread */
    if (status != STATUS_SUCCESS) /* STATUS_OBJECT_NAME_EXISTS is a success status: not ours */
    {
        Track(meta->flowHandle, FALSE);
        ExFreePoolWithTag(context, FLOW_TAG);
    }
}

static void NTAPI ClassifyTarget(const FWPS_INCOMING_VALUES0 *values, const FWPS_INCOMING_METADATA_VALUES0 *meta,
                                 void *layerData, const void *classifyContext, const FWPS_FILTER3 *filter,
                                 UINT64 flowContext, FWPS_CLASSIFY_OUT0 *out)
{
    FLOW_CONTEXT *context = (FLOW_CONTEXT *)(ULONG_PTR)flowContext;

    UNREFERENCED_PARAMETER(values);
    UNREFERENCED_PARAMETER(meta);
    UNREFERENCED_PARAMETER(layerData);
    UNREFERENCED_PARAMETER(classifyContext);
    UNREFERENCED_PARAMETER(filter);
    UNREFERENCED_PARAMETER(out);
    if (context == NULL)
    {
        InterlockedIncrement(&g_Unattributed);
        return;
    }
    InterlockedIncrement(&context->Packets);
    InterlockedIncrement(&g_Packets);
    if (g_FlowMode == MODE_FREE_IN_CLASSIFY)
    {
        ExFreePoolWithTag(context, FLOW_TAG);
    }
    else if (g_FlowMode == MODE_REMOVE_IN_CLASSIFY)
    {
        g_LastRemove = FwpsFlowRemoveContext0(context->Flow, FWPS_LAYER_OUTBOUND_TRANSPORT_V4, g_TargetId);
        InterlockedIncrement(&context->Packets); /* still ours until classifyFn returns */
    }
}

static void NTAPI FlowDelete(UINT16 layerId, UINT32 calloutId, UINT64 flowContext)
{
    FLOW_CONTEXT *context = (FLOW_CONTEXT *)(ULONG_PTR)flowContext;

    UNREFERENCED_PARAMETER(layerId);
    UNREFERENCED_PARAMETER(calloutId);
    Track(context->Flow, FALSE);
    InterlockedIncrement(&g_Deleted);
    if (g_FlowMode != MODE_DELETE_LEAKS)
    {
        ExFreePoolWithTag(context, FLOW_TAG);
    }
}

static void RemoveContexts(void)
{
    KIRQL irql;
    UINT64 flow;

    for (;;)
    {
        KeAcquireSpinLock(&g_Lock, &irql);
        flow = g_FlowCount > 0 ? g_Flows[g_FlowCount - 1] : 0;
        KeReleaseSpinLock(&g_Lock, irql);
        if (flow == 0)
        {
            return;
        }
        if (FwpsFlowRemoveContext0(flow, FWPS_LAYER_OUTBOUND_TRANSPORT_V4, g_TargetId) != STATUS_SUCCESS)
        {
            Track(flow, FALSE); /* gone already */
        }
    }
}

VOID FlowUnload(PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
    if (g_FlowMode != MODE_UNREGISTER_FIRST)
    {
        RemoveContexts();
    }
    FwpmEngineClose0(g_Engine);
    g_LastUnregister = FwpsCalloutUnregisterById0(g_TargetId);
    FwpsCalloutUnregisterById0(g_EstablishedId);
    if (g_FlowMode == MODE_UNREGISTER_FIRST)
    {
        RemoveContexts(); /* too late: the failed unregistration is not retried */
    }
    IoDeleteDevice(g_Device);
}

static NTSTATUS AddCallout(const GUID *key, const GUID *layer, UINT32 flags)
{
    FWPM_CALLOUT0 callout = {0};
    FWPM_FILTER0 filter = {0};

    callout.calloutKey = *key;
    callout.displayData.name = L"flow test";
    callout.applicableLayer = *layer;
    callout.flags = flags;
    NTSTATUS status = FwpmCalloutAdd0(g_Engine, &callout, NULL, NULL);
    if (!NT_SUCCESS(status))
    {
        return status;
    }
    filter.displayData.name = L"flow test";
    filter.layerKey = *layer;
    filter.action.type = FWP_ACTION_CALLOUT_INSPECTION;
    filter.action.calloutKey = *key;
    filter.weight.type = FWP_EMPTY;
    return FwpmFilterAdd0(g_Engine, &filter, NULL, NULL);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    UNICODE_STRING name = RTL_CONSTANT_STRING(L"\\Device\\HwFlows");
    FWPS_CALLOUT3 established = {0};
    FWPS_CALLOUT3 target = {0};
    FWPM_SESSION0 session = {0};
    NTSTATUS status;

    UNREFERENCED_PARAMETER(RegistryPath);
    KeInitializeSpinLock(&g_Lock);
    g_FlowCount = 0;
    status = IoCreateDevice(DriverObject, 0, &name, FILE_DEVICE_NETWORK, 0, FALSE, &g_Device);
    if (!NT_SUCCESS(status))
    {
        return status;
    }
    established.calloutKey = g_EstablishedKey;
    established.classifyFn = ClassifyEstablished;
    established.notifyFn = Notify;
    target.calloutKey = g_TargetKey;
    target.classifyFn = ClassifyTarget;
    target.notifyFn = Notify;
    target.flowDeleteFn = FlowDelete;
    session.flags = FWPM_SESSION_FLAG_DYNAMIC;
    if (!NT_SUCCESS(status = FwpsCalloutRegister3(g_Device, &established, &g_EstablishedId)) ||
        !NT_SUCCESS(status = FwpsCalloutRegister3(g_Device, &target, &g_TargetId)) ||
        !NT_SUCCESS(status = FwpmEngineOpen0(NULL, RPC_C_AUTHN_WINNT, NULL, &session, &g_Engine)) ||
        !NT_SUCCESS(status = AddCallout(&g_EstablishedKey, &FWPM_LAYER_ALE_FLOW_ESTABLISHED_V4, 0)) ||
        !NT_SUCCESS(status = AddCallout(&g_TargetKey, &FWPM_LAYER_OUTBOUND_TRANSPORT_V4,
                                        g_FlowMode == MODE_CONDITIONAL ? FWP_CALLOUT_FLAG_CONDITIONAL_ON_FLOW : 0)))
    {
        return status; /* the tests never fail these */
    }
    DriverObject->DriverUnload = FlowUnload;
    return STATUS_SUCCESS;
}
"""

ESTABLISHED = "FWPS_LAYER_ALE_FLOW_ESTABLISHED_V4"
TARGET = "FWPS_LAYER_OUTBOUND_TRANSPORT_V4"


@pytest.fixture(scope="module")
def flow_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("flows")
    (root / "driver").mkdir()
    (root / "driver" / "flows.c").write_text(FLOW_DRIVER, encoding="utf-8")
    return build_shared(root, root / "flows.so")


class FlowDriver:
    """The flow test driver loaded in one mode, with its globals at hand."""

    def __init__(self, library: Path, mode: int = CORRECT) -> None:
        self.host = HostDriver(library)
        self.host.reset()
        self.lib = self.host.lib
        for name in ("g_Packets", "g_Unattributed", "g_Deleted", "g_LastAssociate", "g_LastRemove"):
            self.global_(name).value = 0
        self.global_("g_FlowMode").value = mode
        assert self.host.load() == STATUS_SUCCESS, self.host.violations()
        self.established = self.host.layer_id(ESTABLISHED)
        self.target = self.host.layer_id(TARGET)

    def global_(self, name: str) -> ctypes.c_int32:
        return ctypes.c_int32.in_dll(self.lib, name)

    def value(self, name: str) -> int:
        return self.global_(name).value & 0xFFFFFFFF

    def establish(self, flow: int) -> int:
        self.host.classify(self.established, [], Metadata(flow_handle=flow))
        return self.value("g_LastAssociate")

    def packet(self, flow: int | None) -> int:
        return self.host.classify(self.target, [], Metadata(flow_handle=flow)).callouts_invoked


def test_flow_context_reaches_classify_and_flow_delete(flow_library: Path) -> None:
    driver = FlowDriver(flow_library)
    assert driver.establish(7) == STATUS_SUCCESS
    assert driver.host.counters().flow_contexts == 1
    assert driver.establish(7) == STATUS_OBJECT_NAME_EXISTS  # one context per flow, layer and callout
    for _ in range(3):
        assert driver.packet(7) == 1
    assert driver.value("g_Packets") == 3
    driver.packet(8)  # a flow opened before: no context
    driver.packet(None)  # no flow handle at all
    assert driver.value("g_Unattributed") == 2
    assert driver.host.flow_end(7) == 1
    assert driver.value("g_Deleted") == 1 and driver.host.counters().flow_contexts == 0
    assert driver.host.flow_end(7) == 0  # deleted once
    assert driver.value("g_Deleted") == 1
    assert driver.establish(9) == STATUS_SUCCESS  # left for unload to remove
    assert driver.host.unload() == 0, driver.host.violations()
    assert driver.value("g_Deleted") == 2
    assert driver.host.counters().nonzero() == {}
    log = "\n".join(driver.host.call_log())
    assert "FwpsFlowRemoveContext0(flow 9, layer" in log and "flowDeleteFn(layer" in log


def test_association_failures(flow_library: Path) -> None:
    driver = FlowDriver(flow_library, WRONG_LAYER)
    assert driver.establish(5) == STATUS_INVALID_PARAMETER  # the callout is not at that layer
    assert "not in the filter engine at this layer" in "\n".join(driver.host.call_log())
    assert any("no classifyFn would receive this flowContext" in v for v in driver.host.violations())
    assert driver.host.unload() == 1, driver.host.violations()  # that one: the driver freed what it allocated

    driver = FlowDriver(flow_library)
    driver.host.fail_call("FwpsFlowAssociateContext0", 1)
    assert driver.establish(5) == STATUS_INSUFFICIENT
    assert driver.packet(5) == 1 and driver.value("g_Unattributed") == 1
    assert driver.host.unload() == 0, driver.host.violations()
    assert driver.host.counters().nonzero() == {}


STATUS_INSUFFICIENT = 0xC000009A


def test_conditional_on_flow(flow_library: Path) -> None:
    driver = FlowDriver(flow_library, CONDITIONAL)
    assert driver.packet(3) == 0  # no context: WFP does not call the callout
    assert driver.establish(3) == STATUS_SUCCESS
    assert driver.packet(3) == 1
    assert driver.value("g_Unattributed") == 0 and driver.value("g_Packets") == 1
    assert driver.host.unload() == 0, driver.host.violations()


def test_remove_from_classify_is_pending(flow_library: Path) -> None:
    driver = FlowDriver(flow_library, REMOVE_IN_CLASSIFY)
    assert driver.establish(4) == STATUS_SUCCESS
    assert driver.packet(4) == 1
    assert driver.value("g_LastRemove") == STATUS_PENDING  # classifyFn still runs with it
    assert driver.value("g_Deleted") == 1  # ... and flowDeleteFn ran when classifyFn returned
    assert driver.host.counters().flow_contexts == 0
    assert driver.packet(4) == 1 and driver.value("g_Unattributed") == 1
    assert driver.host.unload() == 0, driver.host.violations()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (UNREGISTER_FIRST, "unregistration failed with STATUS_DEVICE_BUSY because 1 flow context(s)"),
        (DELETE_LEAKS, "tag 'Flow'"),
        (FREE_IN_CLASSIFY, "double free"),
    ],
    ids=["unregister-before-remove", "context-never-freed", "freed-in-classify-and-delete"],
)
def test_planted_lifetime_bugs_are_named(flow_library: Path, mode: int, expected: str) -> None:
    driver = FlowDriver(flow_library, mode)
    assert driver.establish(11) == STATUS_SUCCESS
    driver.packet(11)
    if mode == FREE_IN_CLASSIFY:
        driver.host.flow_end(11)
    driver.host.unload()
    violations = driver.host.violations()
    assert any(expected in v for v in violations), violations


def test_contexts_left_at_unload_are_reported(flow_library: Path) -> None:
    driver = FlowDriver(flow_library, UNREGISTER_FIRST)
    assert driver.establish(12) == STATUS_SUCCESS
    # The failed unregistration is not retried: the callout and (until the driver's late removal)
    # its context outlive the driver.
    driver.host.unload()
    assert driver.value("g_LastUnregister") == 0x80000011  # STATUS_DEVICE_BUSY
    assert any("is still registered" in v for v in driver.host.violations())


def flows_race(library: str, rounds: str) -> None:
    """Flows end on one thread while two others classify their packets (run under TSan)."""
    driver = FlowDriver(Path(library))
    count = int(rounds)
    errors: list[str] = []

    def packets(offset: int) -> None:
        try:
            for flow in range(1, count + 1):
                for _ in range(4):
                    driver.packet(flow * 2 + offset)
        except AssertionError as error:  # pragma: no cover - reported below
            errors.append(str(error))

    for flow in range(1, count + 1):
        for offset in (0, 1):
            assert driver.establish(flow * 2 + offset) == STATUS_SUCCESS
    threads = [threading.Thread(target=packets, args=(offset,)) for offset in (0, 1)]
    for thread in threads:
        thread.start()
    for flow in range(1, count + 1):
        for offset in (0, 1):
            driver.host.flow_end(flow * 2 + offset)
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert driver.value("g_Deleted") == 2 * count
    assert driver.host.unload() == 0, driver.host.violations()
    assert driver.host.counters().nonzero() == {}
    print("flows ok", driver.value("g_Packets"), driver.value("g_Unattributed"))


def test_flows_end_while_classifying(flow_library: Path) -> None:
    flows_race(str(flow_library), "100")


@pytest.mark.parametrize("variant", ["tsan", "asan"])
def test_flows_under_sanitizers(tmp_path: Path, variant: str) -> None:
    (tmp_path / "driver").mkdir()
    (tmp_path / "driver" / "flows.c").write_text(FLOW_DRIVER, encoding="utf-8")
    library = build_shared(tmp_path, tmp_path / f"flows-{variant}.so", variant)  # type: ignore[arg-type]
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_hostsim_flows as t; "
        "t.flows_race(sys.argv[2], '100')"
    )
    env = sanitizer_env(variant)  # type: ignore[arg-type]
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).parent.parent), env.get("PYTHONPATH", "")])
    )
    command = [sys.executable, "-c", code, str(Path(__file__).parent), str(library)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    setarch = shutil.which("setarch")
    if "unexpected memory mapping" in result.stderr and setarch is not None:
        # ThreadSanitizer of older gcc cannot map its shadow with high-entropy ASLR: run without ASLR.
        command = [setarch, os.uname().machine, "-R", *command]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0 and "flows ok" in result.stdout, result.stderr[-4000:]
    assert "ThreadSanitizer" not in result.stderr and "AddressSanitizer" not in result.stderr, result.stderr[
        -4000:
    ]
