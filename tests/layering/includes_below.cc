// Links the plan layer and includes from it and below: must compile.
#include "bootstrap/bootstrap.h"
#include "plan/team.h"
#include "transports/transport.h"
#include "util/env.h"

int layering_probe_down() { return static_cast<int>(sizeof(tdm::plan::Team)); }
