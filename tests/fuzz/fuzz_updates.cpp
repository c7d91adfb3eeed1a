#include <cstddef>
#include <cstdint>
#include <string>

#include "protocol/api_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    (void)livepatch::ApiClient::parseUpdates(std::string(reinterpret_cast<const char*>(data), size),
                                             "https://server.example");
    return 0;
}
