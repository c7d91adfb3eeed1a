// How `refresh` shows its phases: one line per phase, and on a terminal a
// download bar redrawn in place. Used for in-process refreshes (engine
// binary) and for progress relayed from the daemon (front-end).
#pragma once

#include <cstdint>
#include <string>

namespace livepatch::cli {

class ProgressPrinter {
public:
    ProgressPrinter();
    void operator()(const std::string& phase, std::uint64_t done, std::uint64_t total);
    // A "progress <phase> <done> <total>" line from the control socket.
    void onLine(const std::string& line);
    // End the bar's line, if one is open.
    void finish();

private:
    bool tty_;
    std::string lastPhase_;
};

}  // namespace livepatch::cli
