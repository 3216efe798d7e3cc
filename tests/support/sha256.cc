#include "support/sha256.h"

#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <vector>

#include "fmt/format.h"

namespace ditto::test {
namespace {

using DigestContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

DigestContext NewContext() {
  DigestContext context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (context == nullptr || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    return DigestContext(nullptr, &EVP_MD_CTX_free);
  }
  return context;
}

std::string Finish(EVP_MD_CTX* context) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context, digest, &length);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

}  // namespace

StatusOr<std::string> Sha256File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(fmt::format("sha256: cannot open {}", path));
  DigestContext context = NewContext();
  if (context == nullptr) return absl::InternalError("sha256: OpenSSL digest unavailable");
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    std::streamsize n = in.gcount();
    if (n > 0) EVP_DigestUpdate(context.get(), buffer.data(), static_cast<size_t>(n));
  }
  if (in.bad()) return absl::InternalError(fmt::format("sha256: read error in {}", path));
  return Finish(context.get());
}

std::string Sha256(std::string_view data) {
  DigestContext context = NewContext();
  if (context == nullptr) return "";
  EVP_DigestUpdate(context.get(), data.data(), data.size());
  return Finish(context.get());
}

}  // namespace ditto::test
