#include "runner/engine_app.h"

int main(int argc, char** argv) { return livepatch::runner::runEngine(argc, argv); }
