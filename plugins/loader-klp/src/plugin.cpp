// The one registration point of this plugin.
#include "klp_loader.h"

LIVEPATCH_PLUGIN(livepatch::plugins::klp::KlpLoader)
