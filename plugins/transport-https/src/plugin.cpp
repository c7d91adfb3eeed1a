// The one registration point of this plugin.
#include "https_transport.h"

LIVEPATCH_PLUGIN(livepatch::plugins::HttpsTransport)
