#include "livepatch-agent/front_end.h"

int main(int argc, char** argv) { return livepatch::agent::runAgent(argc, argv); }
