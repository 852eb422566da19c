// C seam for CZlib: headers plus static inline wrappers for variadic/macro APIs.
#pragma once
#include <zlib.h>

