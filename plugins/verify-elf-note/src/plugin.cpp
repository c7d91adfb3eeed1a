// The one registration point of this plugin.
#include "elf_note.h"

LIVEPATCH_PLUGIN(livepatch::plugins::xen::ElfNoteVerifier)
