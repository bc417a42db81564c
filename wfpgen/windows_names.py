"""Names Windows itself uses for services, drivers and kernel objects, which a driver must not take.

A generated driver's name is its service name (``AddService`` in the INF), its device
(``\\Device\\<Name>``) and its DOS device link (``\\DosDevices\\<Name>``). Windows compares all of
them without regard to case, so a driver called ``tcpip`` would be installed over the TCP/IP
stack's service, and ``scripts/uninstall.ps1`` would then stop and delete that service. The list
holds the in-box kernel drivers and services a Windows 10 or 11 installation registers (network
stack, filtering, file systems, storage, buses, security, core services) and the names of kernel
objects the driver's device and link would collide with. It cannot be complete for every
edition and optional feature; it covers what a network driver's author is likely to reach for.
"""

from __future__ import annotations

_NETWORK_DRIVERS = """
    Afd afunix AsyncMac bowser Dfsc Fwpkclnt Http IpFilterDriver IPNAT kdnic lltdio MbbCx mpsdrv MRxDAV
    mrxsmb mrxsmb10 mrxsmb20 MsBridge MsLldp MsQuic Mup NativeWifiP Ndis NdisCap NdisImPlatform
    NdisTapi Ndisuio NdisVirtualBus NdisWan ndiswanlegacy NDKPing ndproxy Ndu NetAdapterCx NetBIOS
    NetBT Netio netvsc nsiproxy PktMon PptpMiniport Psched QWAVEdrv RasAcd RasAgileVpn Rasl2tp
    RasPppoe RasSstp rdbss rspndr smbdirect srv srv2 srvnet Tcpip Tcpip6 TcpipReg tdx tunnel vmswitch
    vwifibus vwififlt wanarp wanarpv6 WFPLWFS WinMad WinNat WinVerbs ws2ifsl
"""
_NETWORK_SERVICES = """
    BFE Dhcp Dnscache dot3svc DusmSvc fdPHost FDResPub IKEEXT iphlpsvc IpxlatCfgSvc LanmanServer
    LanmanWorkstation lmhosts MpsSvc NcbService Netlogon Netman netprofm NetSetupSvc NetTcpPortSharing
    NlaSvc nsi p2psvc PNRPsvc PolicyAgent RasAuto RasMan RemoteAccess SharedAccess SSDPSRV SstpSvc
    upnphost W32Time Wcmsvc WinHttpAutoProxySvc WinRM WlanSvc WwanSvc
"""
_KERNEL_DRIVERS = """
    ACPI AcpiDev acpiex acpipagr AcpiPmi acpitime ahcache amdppm AppID applockerfltr bam BasicDisplay
    BasicRender Beep bindflt bootvid cdfs cdrom ci CimFS CLFS clipsp cldflt CmBatt CNG cnghwassist
    CompositeBus condrv CSC dam disk DXGKrnl EhStorClass exfat fastfat FileCrypt FileInfo Filetrace
    FltMgr FsDepends fvevol hal HDAudBus HidUsb hvservice hwpolicy i8042prt intelppm iorate kbdclass
    kbdhid kdcom KSecDD KSecPkg ksthunk luafv Modem monitor mouclass mouhid mountmgr msisadrv msrpc
    Msfs mssmbios Npfs Ntfs ntoskrnl Null Parport partmgr pci pcw pdc PEAUTH Processor pshed rdpbus
    RDPDR rdyboost ReFS ReFSv1 Serenum Serial spaceport storahci storflt stornvme swenum TPM
    tsusbhub udfs UEFI umbus USBHUB3 usbccgp usbhub USBSTOR USBXHCI vhdmp Vid vmbus volmgr volmgrx
    volsnap volume vpci wcifs WdBoot Wdf01000 WdFilter WdNisDrv werkernel WIMMount WindowsTrustedRT
    WmiAcpi Wof
"""
_SYSTEM_SERVICES = """
    Appinfo AudioSrv BITS BrokerInfrastructure CryptSvc DcomLaunch DeviceInstall EventLog gpsvc KeyIso
    LSM MMCSS msiserver PlugPlay Power ProfSvc RpcEptMapper RpcSs SamSs Schedule Sense SgrmAgent
    Spooler sppsvc SystemEventsBroker TermService TrustedInstaller VaultSvc WdNisSvc WinDefend
    Winmgmt wuauserv
"""
_KERNEL_OBJECTS = """
    DfsClient Global GLOBALROOT Ip Ip6 IPMULTICAST LanmanRedirector Mailslot NamedPipe PhysicalMemory
    Pipe RawIp RawIp6 Tcp Tcp6 Udp Udp6 UNC WMIDataDevice
"""


def _table() -> dict[str, str]:
    table: dict[str, str] = {}
    for words, kind in ((_KERNEL_OBJECTS, "the kernel object name"), (_SYSTEM_SERVICES, "the system service"),
                        (_KERNEL_DRIVERS, "the kernel driver"), (_NETWORK_SERVICES, "the network service"),
                        (_NETWORK_DRIVERS, "the network driver")):
        for name in words.split():
            table[name.lower()] = f"{kind} {name}"  # later groups win: Http is the driver, not the device
    return table


#: Lower-case name -> what Windows uses it for ("the network driver Tcpip").
INBOX_SERVICE_NAMES: dict[str, str] = _table()
