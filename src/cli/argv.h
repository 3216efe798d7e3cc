// Command-line words as kubectl (pflag) reads them, turned into the form
// CLI11 parses: "-n=X" and "-nX" become "-n X" (same for -o, -l, -f, -p),
// and the verb is checked before parsing so an unknown one is named.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace ditto::cli {

// `args` (without argv[0]) with every value-taking shorthand written
// "-xVALUE" or "-x=VALUE" split into "-x" "VALUE". Words after "--" are kept.
std::vector<std::string> NormalizeShorthands(const std::vector<std::string>& args);

// The first word that is not a global option or its value ("" if none).
std::string FindVerb(const std::vector<std::string>& args);

// For a verb dittoctl does not have: kubectl's message, plus the closest
// verb or what dittoctl offers instead. nullopt when `verb` is known.
std::optional<std::string> UnknownVerbMessage(const std::string& verb,
                                              const std::vector<std::string>& known);

}  // namespace ditto::cli
