// Placeholder entry point replaced by the CLI application (issue 2).
int main() { return 70; }
