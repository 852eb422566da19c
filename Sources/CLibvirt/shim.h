// C seam for CLibvirt: headers plus static inline wrappers for variadic/macro APIs.
#pragma once
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
