// C seam for CBlkid: headers plus static inline wrappers for variadic/macro APIs.
#pragma once
#include <blkid/blkid.h>

