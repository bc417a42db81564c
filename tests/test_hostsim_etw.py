"""TraceLogging in the host runtime: the events it records and the rules it enforces.

A small hand-written driver defines one provider with ``TRACELOGGING_DEFINE_PROVIDER``, registers
it in DriverEntry, writes events on request (``WriteSample``) and unregisters it at unload.
``g_EtwMode`` makes it break one rule, and each broken rule must be recorded as a violation that
names it:

* a write before ``TraceLoggingRegister``;
* ``TraceLoggingRegister`` of a provider that is already registered;
* ``TraceLoggingUnregister`` at DISPATCH_LEVEL (the header requires PASSIVE_LEVEL);
* the provider left registered when the driver has unloaded.

The correct driver leaves no violation, and its event is recorded exactly: provider, name, level,
keyword, and each field's name, TlgIn/TlgOut numbers and bytes as the driver handed them over.
"""

from __future__ import annotations

import ctypes
import shutil
from pathlib import Path

import pytest

from wfpgen.hostsim.binding import STATUS_SUCCESS, EtwEvent, EtwField, HostDriver
from wfpgen.hostsim.build import build_shared

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None, reason="gcc is not installed: the host simulation cannot be built"
)

# g_EtwMode values (the driver's enum)
CORRECT, WRITE_BEFORE_REGISTER, REGISTER_TWICE, UNREGISTER_AT_DISPATCH, NEVER_UNREGISTER = range(5)

ETW_DRIVER = r"""
#include <ntddk.h>
#include <evntrace.h>
#include <TraceLoggingProvider.h>

enum
{
    MODE_CORRECT,
    MODE_WRITE_BEFORE_REGISTER, /* DriverEntry writes an event, then registers */
    MODE_REGISTER_TWICE,        /* DriverEntry registers the provider twice */
    MODE_UNREGISTER_AT_DISPATCH, /* unload unregisters at DISPATCH_LEVEL */
    MODE_NEVER_UNREGISTER       /* unload forgets to unregister */
};

/* {11111111-2222-4333-8444-555555555555}: any GUID will do for the runtime. */
TRACELOGGING_DEFINE_PROVIDER(g_Provider, "Test.EtwRules",
                             (0x11111111, 0x2222, 0x4333, 0x84, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55));

/* Read and set by the test through the shared library's symbols. */
volatile LONG g_EtwMode;
volatile LONG g_LastRegister;
static KSPIN_LOCK g_Lock;

DRIVER_INITIALIZE DriverEntry;
DRIVER_UNLOAD EtwUnload;

static const WCHAR g_Path[] = L"\\device\\x.exe";
static const UINT8 g_Sid[12] = {1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0}; /* S-1-5-18 */
static const UINT8 g_Address6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

/* One event with a field of each kind the etw sink writes. */
void WriteSample(void)
{
    UINT32 address4 = 0xC0000201u; /* 192.0.2.1 as written: the caller's bytes, not swapped here */
    UINT64 time = 0x01D9000000000000ull;

    TraceLoggingWrite(g_Provider, "sample", TraceLoggingLevel(TRACE_LEVEL_INFORMATION), TraceLoggingKeyword(0x4ULL),
                      TraceLoggingUInt8(6, "protocol"),
                      TraceLoggingUInt16(0x1234, "u16"),
                      TraceLoggingHexUInt32(0xA0B0C0D0u, "flags"),
                      TraceLoggingUInt64(0x0102030405060708ull, "pid"),
                      TraceLoggingPort(0x5000, "port"),
                      TraceLoggingPackedFieldEx(&address4, sizeof(address4), TlgInUINT32, TlgOutIPV4, "ipv4"),
                      TraceLoggingBinaryEx(g_Address6, 16, TlgOutIPV6, "ipv6"),
                      TraceLoggingCountedWideString(g_Path, 3, "path"),
                      TraceLoggingSid(g_Sid, "sid"),
                      TraceLoggingPackedFieldEx(&time, sizeof(time), TlgInFILETIME, TlgOutDATETIME_UTC, "time"));
}

VOID EtwUnload(PDRIVER_OBJECT DriverObject)
{
    KIRQL irql;

    UNREFERENCED_PARAMETER(DriverObject);
    if (g_EtwMode == MODE_NEVER_UNREGISTER)
    {
        return;
    }
    if (g_EtwMode == MODE_UNREGISTER_AT_DISPATCH)
    {
        KeAcquireSpinLock(&g_Lock, &irql); /* DISPATCH_LEVEL while it is held */
        TraceLoggingUnregister(g_Provider);
        KeReleaseSpinLock(&g_Lock, irql);
        return;
    }
    TraceLoggingUnregister(g_Provider);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    UNREFERENCED_PARAMETER(RegistryPath);
    KeInitializeSpinLock(&g_Lock);
    if (g_EtwMode == MODE_WRITE_BEFORE_REGISTER)
    {
        WriteSample();
    }
    g_LastRegister = TraceLoggingRegister(g_Provider);
    if (g_EtwMode == MODE_REGISTER_TWICE)
    {
        g_LastRegister = TraceLoggingRegister(g_Provider);
    }
    DriverObject->DriverUnload = EtwUnload;
    return STATUS_SUCCESS;
}
"""


@pytest.fixture(scope="module")
def etw_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("etw")
    (root / "driver").mkdir()
    (root / "driver" / "etw.c").write_text(ETW_DRIVER, encoding="utf-8")
    return build_shared(root, root / "etw.so")


def loaded(library: Path, mode: int) -> HostDriver:
    """The test driver, reset and loaded in ``mode``."""
    host = HostDriver(library)
    host.reset()
    ctypes.c_int32.in_dll(host.lib, "g_EtwMode").value = mode
    assert host.load() == STATUS_SUCCESS, host.violations()
    return host


def test_correct_driver_records_each_field_exactly(etw_library: Path) -> None:
    host = loaded(etw_library, CORRECT)
    assert host.counters().etw_providers == 1
    host.lib.WriteSample()
    path = "\\de".encode("utf-16-le")
    assert host.etw_events() == [EtwEvent("Test.EtwRules", "sample", 4, 0x4, (
        EtwField("protocol", 4, 0, bytes([6])),                                 # TlgInUINT8
        EtwField("u16", 6, 0, (0x1234).to_bytes(2, "little")),                  # TlgInUINT16
        EtwField("flags", 20, 0, (0xA0B0C0D0).to_bytes(4, "little")),           # TlgInHEXINT32
        EtwField("pid", 10, 0, (0x0102030405060708).to_bytes(8, "little")),     # TlgInUINT64
        EtwField("port", 6, 7, (0x5000).to_bytes(2, "little")),                 # TlgInUINT16 + TlgOutPORT
        EtwField("ipv4", 8, 8, (0xC0000201).to_bytes(4, "little")),             # TlgInUINT32 + TlgOutIPV4
        EtwField("ipv6", 14, 9, bytes.fromhex("20010db8000000000000000000000001")),  # TlgInBINARY + TlgOutIPV6
        EtwField("path", 22, 0, path),                                           # TlgInCOUNTEDSTRING, 3 chars
        EtwField("sid", 19, 0, bytes([1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0])),   # TlgInSID: its own length
        EtwField("time", 17, 38, (0x01D9000000000000).to_bytes(8, "little")),   # TlgInFILETIME + DATETIME_UTC
    ))]
    assert host.unload() == 0, host.violations()
    assert host.counters().etw_providers == 0


def test_a_session_without_the_keyword_gets_no_event(etw_library: Path) -> None:
    host = loaded(etw_library, CORRECT)
    host.etw_enable(0x1)  # the sample event has keyword 0x4
    host.lib.WriteSample()
    assert host.etw_events() == []
    host.etw_enable(0x4)
    host.lib.WriteSample()
    assert [event.name for event in host.etw_events()] == ["sample"]
    assert host.unload() == 0, host.violations()


def test_write_before_register_is_a_violation(etw_library: Path) -> None:
    host = loaded(etw_library, WRITE_BEFORE_REGISTER)
    assert host.etw_events() == []  # the early write is not recorded as an event
    host.unload()
    violations = host.violations()
    assert any("TraceLoggingWrite of event 'sample' while provider 'Test.EtwRules' is not registered" in v
               for v in violations), violations


def test_register_twice_is_a_violation(etw_library: Path) -> None:
    host = loaded(etw_library, REGISTER_TWICE)
    assert ctypes.c_int32.in_dll(host.lib, "g_LastRegister").value & 0xFFFFFFFF == 0xC000000D  # INVALID_PARAMETER
    host.unload()
    violations = host.violations()
    assert any("TraceLoggingRegister of provider 'Test.EtwRules', which is already registered" in v
               for v in violations), violations


def test_unregister_at_dispatch_level_is_a_violation(etw_library: Path) -> None:
    host = loaded(etw_library, UNREGISTER_AT_DISPATCH)
    host.unload()
    violations = host.violations()
    assert any(v.startswith("TraceLoggingUnregister called at DISPATCH_LEVEL") and "PASSIVE_LEVEL" in v
               for v in violations), violations
    assert len(violations) == 1, violations  # the call itself went through: nothing is left registered
    assert host.counters().etw_providers == 0


def test_provider_left_registered_at_unload_is_a_violation(etw_library: Path) -> None:
    host = loaded(etw_library, NEVER_UNREGISTER)
    assert host.unload() >= 1
    violations = host.violations()
    assert any("ETW provider 'Test.EtwRules' is still registered (TraceLoggingUnregister missing)" in v
               for v in violations), violations
