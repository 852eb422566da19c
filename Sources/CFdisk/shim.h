// C seam for CFdisk: headers plus static inline wrappers for variadic/macro APIs.
#pragma once
#include <libfdisk/libfdisk.h>

#include <stdarg.h>
