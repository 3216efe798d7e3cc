#include "cli/argv.h"

#include <algorithm>
#include <map>

#include "fmt/format.h"

namespace ditto::cli {
namespace {

// Shorthands that take a value: -n namespace, -o output, -l selector,
// -f filename, -p patch.
bool TakesValue(char letter) {
  return letter == 'n' || letter == 'o' || letter == 'l' || letter == 'f' || letter == 'p';
}

// Global long options that take a value (their value is not the verb).
bool GlobalWithValue(const std::string& word) {
  return word == "--state" || word == "--endpoint" || word == "--node-id" ||
         word == "--driver-name" || word == "--pool-size";
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::vector<std::string> NormalizeShorthands(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  bool literal = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (literal) {
      out.push_back(word);
      continue;
    }
    if (word == "--") {
      literal = true;
      out.push_back(word);
      continue;
    }
    if (word.size() > 2 && word[0] == '-' && word[1] != '-' && TakesValue(word[1])) {
      out.push_back(word.substr(0, 2));
      out.push_back(word[2] == '=' ? word.substr(3) : word.substr(2));
      continue;
    }
    out.push_back(word);
    // The value of "-n X" stays as typed, even when it starts with '-'.
    if (word.size() == 2 && word[0] == '-' && TakesValue(word[1]) && i + 1 < args.size()) {
      out.push_back(args[++i]);
    }
  }
  return out;
}

std::string FindVerb(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word == "--") return i + 1 < args.size() ? args[i + 1] : "";
    if (word.empty() || word[0] != '-') return word;
    if (GlobalWithValue(word)) ++i;  // skip its value
  }
  return "";
}

std::optional<std::string> UnknownVerbMessage(const std::string& verb,
                                              const std::vector<std::string>& known) {
  if (verb.empty() || std::find(known.begin(), known.end(), verb) != known.end()) {
    return std::nullopt;
  }
  std::string message = fmt::format("error: unknown command \"{}\" for \"dittoctl\"", verb);
  static const std::map<std::string, std::string> kInstead = {
      {"run", "dittoctl runs no pods: use a claim's files with dittoctl mount pvc/NAME PATH -n NS"},
      {"exec", "dittoctl runs no pods: mount the claim (dittoctl mount pvc/NAME PATH -n NS) and "
               "work in PATH"},
      {"logs", "dittoctl runs no pods; what happened to an object is in dittoctl describe KIND "
               "NAME and dittoctl get events"},
      {"cp", "dittoctl runs no pods: mount the claim (dittoctl mount pvc/NAME PATH -n NS) and "
             "copy into PATH"},
      {"scale", "dittoctl has no workloads to scale"},
      {"rollout", "dittoctl has no workloads to roll out"},
      {"port-forward", "dittoctl runs no pods"},
      {"replace", "use dittoctl apply -f FILE, which updates objects in place"},
      {"edit", "change an object with dittoctl patch KIND NAME -p '{...}', or dittoctl get KIND "
               "NAME -o yaml > FILE, edit FILE, then dittoctl apply -f FILE"},
      {"label", "set metadata.labels with dittoctl patch or dittoctl apply -f FILE"},
      {"annotate", "set metadata.annotations with dittoctl patch or dittoctl apply -f FILE"},
  };
  auto instead = kInstead.find(verb);
  if (instead != kInstead.end()) {
    message += "\n" + instead->second;
  } else {
    std::string best;
    size_t best_distance = 3;
    for (const std::string& name : known) {
      size_t distance = EditDistance(verb, name);
      if (distance < best_distance) {
        best_distance = distance;
        best = name;
      }
    }
    if (!best.empty()) message += fmt::format("\n\nDid you mean this?\n\t{}", best);
  }
  message += "\nRun 'dittoctl --help' for usage.";
  return message;
}

}  // namespace ditto::cli
