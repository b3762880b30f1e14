// Links the plan layer but includes the comm layer above it: must not compile.
#include "comm/comm.h"

int layering_probe_up() { return static_cast<int>(sizeof(tdm::Comm)); }
