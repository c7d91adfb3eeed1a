#include "livepatch-agent-engine/engine_app.h"

int main(int argc, char** argv) { return livepatch::agent_engine::runEngine(argc, argv); }
