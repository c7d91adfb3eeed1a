#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <sstream>

namespace livepatch::cli {

namespace {

std::string progressBar(const std::string& phase, unsigned long long done, unsigned long long total) {
    std::ostringstream o;
    o << "\r" << phase << ": ";
    if (total > 0) {
        int width = 30;
        int filled = static_cast<int>(width * std::min(done, total) / total);
        o << "[" << std::string(filled, '#') << std::string(width - filled, ' ') << "] "
          << (100 * std::min(done, total) / total) << "% ";
    }
    o << done / 1024 << " KiB";
    return o.str();
}

}  // namespace

ProgressPrinter::ProgressPrinter() : tty_(::isatty(STDOUT_FILENO) == 1) {}

void ProgressPrinter::operator()(const std::string& phase, std::uint64_t done, std::uint64_t total) {
    const bool newPhase = phase != lastPhase_;
    if (newPhase && tty_ && lastPhase_ == "download") std::cout << "\n";
    lastPhase_ = phase;
    if (phase == "download" && tty_) {
        std::cout << progressBar(phase, done, total) << std::flush;  // redrawn in place
    } else if (newPhase) {
        std::cout << phase << "..."
                  << (phase == "download" && total ? " (" + std::to_string(total / 1024) + " KiB)" : "") << "\n"
                  << std::flush;
    }
}

void ProgressPrinter::onLine(const std::string& line) {
    std::istringstream in(line);
    std::string word, phase;
    unsigned long long done = 0, total = 0;
    in >> word >> phase >> done >> total;
    if (word == "progress" && !phase.empty()) (*this)(phase, done, total);
}

void ProgressPrinter::finish() {
    if (tty_ && lastPhase_ == "download") std::cout << "\n";
    lastPhase_.clear();
}

}  // namespace livepatch::cli
