// The one registration point of this plugin.
#include "auth_token.h"

LIVEPATCH_PLUGIN(livepatch::plugins::AuthTokenPlugin)
