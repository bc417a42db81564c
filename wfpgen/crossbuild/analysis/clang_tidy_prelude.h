/*
 * clang_tidy_prelude.h - forced into every translation unit clang-tidy analyses
 * (wfpgen.crossbuild.analyze: clang-tidy ... -- -include <this file>).  Analysis only.
 *
 * It includes the host-simulation headers (wfpgen/hostsim/include) first, then adjusts two
 * things for the Clang Static Analyzer without touching those headers:
 *
 *   - pool ownership: ExAllocatePool2 / ExAllocatePoolWithTag return memory that
 *     ExFreePoolWithTag releases, so clang-analyzer-unix.Malloc reports use after free,
 *     double free and leaks of pool memory (gcc gets the same from the malloc(dealloc)
 *     attributes hostwdk.h already carries);
 *   - NT_ASSERT: hostwdk.h's ((void)sizeof(!(e))) makes every assertion that contains a
 *     sizeof a "sizeof(sizeof(...))" for bugprone-sizeof-expression.  Here the expression
 *     stays type-checked and unevaluated without sizeof.
 */

#ifndef WFPGEN_CLANG_TIDY_PRELUDE_H
#define WFPGEN_CLANG_TIDY_PRELUDE_H

#include <ntddk.h>

NTKERNELAPI VOID ExFreePoolWithTag(PVOID P, ULONG Tag) __attribute__((ownership_takes(malloc, 1)));
NTKERNELAPI PVOID ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag)
    __attribute__((ownership_returns(malloc)));
NTKERNELAPI PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag)
    __attribute__((ownership_returns(malloc)));

#undef NT_ASSERT
#define NT_ASSERT(_exp) ((void)(0 && (_exp)))

#endif /* WFPGEN_CLANG_TIDY_PRELUDE_H */
