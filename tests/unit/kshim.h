/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Kernel type names for building the module's pure-C files in user space. */
#ifndef AKM_KSHIM_H
#define AKM_KSHIM_H

#include <stdbool.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#endif /* AKM_KSHIM_H */
