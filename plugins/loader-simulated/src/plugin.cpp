// The one registration point of this plugin.
#include "simulated_kernel.h"

LIVEPATCH_PLUGIN(livepatch::plugins::SimulatedKernelLoader)
