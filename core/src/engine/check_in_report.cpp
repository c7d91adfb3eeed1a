#include "engine/check_in_report.h"

#include <Poco/JSON/Object.h>

#include <sstream>

#include "identity/host_facts.h"

namespace livepatch {

std::string checkInReport(const AgentState& st, const KernelInfo& kernel, const Config& config,
                          const std::string& hostRoot, std::chrono::system_clock::time_point now) {
    Poco::JSON::Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    auto facts =
        readHostFacts(hostRoot, std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
    o.set("kernel", kernel.versionSignature);
    o.set("architecture", kernel.architecture);
    if (!facts.bootTime.empty()) o.set("boot-time", facts.bootTime);
    o.set("uptime", facts.uptimeSeconds);
    o.set("client-version", std::string(LIVEPATCH_AGENT_VERSION));
    if (st.applied && st.applied->kernel == kernel.versionSignature) o.set("patch-version", st.applied->version);
    o.set("patch-state", std::string(spelling(st.patchState)));
    o.set("check-state", std::string(spelling(st.checkState)));
    auto cutoff = config.getOr("cutoff-date", "");
    if (!cutoff.empty()) o.set("cutoff-date", cutoff);
    auto delay = config.getOr("patch-delay", "");
    if (!delay.empty()) o.set("patch-delay", delay);
    Poco::JSON::Object::Ptr h(new Poco::JSON::Object);
    h->set("taint", st.healthTaint);
    h->set("oops", st.healthOops);
    o.set("health", h);
    std::ostringstream out;
    o.stringify(out);
    return out.str();
}

}  // namespace livepatch
