#pragma once

#include <string>

#include "livepatch/error.h"

namespace livepatch::runner {

// Every PEM block in `pem` must parse as an X.509 certificate (OpenSSL); run
// by `config ca-certs=...` before saving, on top of Config's structural check.
Status parseCertificates(const std::string& key, const std::string& pem);

}  // namespace livepatch::runner
