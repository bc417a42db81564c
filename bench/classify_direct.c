/*
 * Calls a generated driver's classifyFn for FWPS_LAYER_INBOUND_TRANSPORT_V4 directly, in a
 * loop, against the host runtime: the driver's own cost per event (reading the values,
 * filling the record, the sink), without the simulated filter engine's dispatch.
 *
 * Built by bench/classify_bench.py with -O2 together with the driver and the runtime;
 * CLASSIFY_FN names the classify function, DEVICE_PATH the ring sink's device (or ""), READ_CODE
 * its READ IOCTL.
 * Usage: classify_direct EVENTS THREADS  -> prints "ns_per_event <value>"
 */

#include "driver.h"
#include "hostwdk_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 10000u

static FWPS_INCOMING_VALUE0 g_Values[FWPS_FIELD_INBOUND_TRANSPORT_V4_MAX];
static FWPS_INCOMING_VALUES0 g_In;
static FWPS_INCOMING_METADATA_VALUES0 g_Meta;
static int64_t g_Handle;
static unsigned char g_Buffer[2u << 20];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *classify_loop(void *arg)
{
    unsigned count = *(unsigned *)arg;
    FWPS_CLASSIFY_OUT0 out;
    for (unsigned i = 0; i < count; i++)
    {
        memset(&out, 0, sizeof(out));
        out.rights = FWPS_RIGHT_ACTION_WRITE;
        CLASSIFY_FN(&g_In, &g_Meta, NULL, NULL, NULL, 0, &out);
    }
    return NULL;
}

static void drain(void)
{
    uint64_t information = 0;
    int64_t request = 0;
    if (g_Handle <= 0)
    {
        return;
    }
    (void)HostWdk_DeviceIoControl(g_Handle, READ_CODE, NULL, 0, g_Buffer, sizeof(g_Buffer), &information, &request);
}

int main(int argc, char **argv)
{
    unsigned events = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000000u;
    unsigned threads = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1u;
    pthread_t workers[8];
    unsigned per_thread;
    double elapsed = 0.0;
    unsigned done = 0;

    if (threads < 1 || threads > 8 || HostWdk_LoadDriver() != 0)
    {
        fprintf(stderr, "cannot load the driver\n");
        return 1;
    }
    g_Handle = DEVICE_PATH[0] != '\0' ? HostWdk_Open(DEVICE_PATH) : 0;
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

    while (done < events)
    {
        per_thread = CHUNK / threads;
        double start = now();
        for (unsigned t = 0; t < threads; t++)
        {
            pthread_create(&workers[t], NULL, classify_loop, &per_thread);
        }
        for (unsigned t = 0; t < threads; t++)
        {
            pthread_join(workers[t], NULL);
        }
        elapsed += now() - start;
        done += per_thread * threads;
        drain();
    }
    printf("ns_per_event %.2f\n", elapsed * 1e9 / (double)done);
    return 0;
}
