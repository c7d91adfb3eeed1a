#include "app/agent_app.h"

int main(int argc, char** argv) { return livepatch::app::runAgent(argc, argv); }
