// The one registration point of this plugin.
#include "resource_token.h"

LIVEPATCH_PLUGIN(livepatch::plugins::ResourceTokenPlugin)
