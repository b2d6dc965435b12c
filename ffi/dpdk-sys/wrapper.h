/* What bindgen sees: the DPDK headers we call plus the C shim. */
#include "csrc/shim.h"
