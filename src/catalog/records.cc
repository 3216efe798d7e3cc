#include "catalog/records.h"

namespace ditto::catalog {

const char* StateName(State state) {
  switch (state) {
    case State::kCreating:
      return "creating";
    case State::kReady:
      return "ready";
    case State::kExpanding:
      return "expanding";
    case State::kDeleting:
      return "deleting";
  }
  return "unknown";
}

bool ParseState(const std::string& text, State* state) {
  for (State s : {State::kCreating, State::kReady, State::kExpanding, State::kDeleting}) {
    if (text == StateName(s)) {
      *state = s;
      return true;
    }
  }
  return false;
}

}  // namespace ditto::catalog
