// C seam for CZstd: headers plus static inline wrappers for variadic/macro APIs.
#pragma once
#include <zstd.h>

