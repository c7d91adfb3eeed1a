// The one registration point of this plugin.
#include "file_transport.h"

LIVEPATCH_PLUGIN(livepatch::plugins::FileTransport)
