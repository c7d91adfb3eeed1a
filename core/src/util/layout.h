// Where the installed pieces are, found from the running executable so the
// build tree, `cmake --install` prefixes and the snap all work unchanged:
//   <prefix>/bin/livepatch-agent
//   <prefix>/lib/livepatch-agent/livepatch-agent-engine
//   <prefix>/lib/livepatch-agent/plugins/*.so
#pragma once

#include <string>

namespace livepatch {

// $SNAP/usr/lib/livepatch-agent in a snap; otherwise lib/livepatch-agent of
// the prefix our executable is in (either binary may ask).
std::string agentLibDir();

}  // namespace livepatch
