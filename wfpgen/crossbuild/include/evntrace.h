/*
 * evntrace.h - MinGW-w64 cross-build stand-in (wfpgen.crossbuild): the event levels
 * TraceLoggingLevel takes, with the WDK's values.  MinGW-w64's own evntrace.h is the user-mode
 * header, which stops short of them after the ddk headers' ETW declarations.
 */
#ifndef WFPGEN_EVNTRACE_H
#define WFPGEN_EVNTRACE_H

#define TRACE_LEVEL_NONE        0
#define TRACE_LEVEL_CRITICAL    1
#define TRACE_LEVEL_FATAL       1
#define TRACE_LEVEL_ERROR       2
#define TRACE_LEVEL_WARNING     3
#define TRACE_LEVEL_INFORMATION 4
#define TRACE_LEVEL_VERBOSE     5

#endif /* WFPGEN_EVNTRACE_H */
