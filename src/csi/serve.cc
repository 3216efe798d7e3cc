#include "csi/serve.h"

namespace ditto::csi {

std::string Subject(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out;
  for (const auto& [key, value] : fields) {
    if (value.empty()) continue;
    if (!out.empty()) out += ' ';
    out += key;
    out += '=';
    for (char c : value.substr(0, 128)) {
      unsigned char u = static_cast<unsigned char>(c);
      out += (u < 0x20 || u >= 0x7f || c == ' ') ? '?' : c;
    }
    if (value.size() > 128) out += "...";
  }
  return out;
}

}  // namespace ditto::csi
