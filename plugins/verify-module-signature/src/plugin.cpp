// The one registration point of this plugin.
#include "module_signature.h"

LIVEPATCH_PLUGIN(livepatch::plugins::ModuleSignatureVerifier)
