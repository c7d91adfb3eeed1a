// A shared object that is not a livepatch plugin.
extern "C" int some_unrelated_function() { return 7; }
