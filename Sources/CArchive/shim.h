// C seam for CArchive: headers plus static inline wrappers for variadic/macro APIs.
#pragma once
#include <archive.h>
#include <archive_entry.h>
