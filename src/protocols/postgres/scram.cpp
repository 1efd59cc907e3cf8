// SCRAM-SHA-256 client and md5 response for logging in to an upstream PostgreSQL.
// Every primitive (PBKDF2, HMAC, SHA-256, MD5, base64, randomness, constant-time compare) is OpenSSL's;
// this file only does the RFC 5802 message grammar and the key schedule.
#include "protocols/postgres/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <charconv>
#include <climits>
#include <optional>
#include <vector>

#include "core/hex.h"

namespace gatehouse::pg {
namespace {

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

// Clears a secret when it goes out of scope, also on early returns.
template <class T>
struct Cleanse {
  T& secret;
  ~Cleanse() { OPENSSL_cleanse(secret.data(), secret.size()); }
};

std::string base64Encode(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  // EVP_EncodeBlock writes a trailing NUL; the string's own terminator has room for it.
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}

// EVP_DecodeBlock skips surrounding whitespace and counts padding as zero bytes, so the shape is checked
// here first: only the base64 alphabet, whole quanta, '=' only at the end.
std::optional<std::vector<unsigned char>> base64Decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > INT_MAX) return std::nullopt;
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                       c == '/';
    if (c == '=') {
      if (i + 2 < text.size()) return std::nullopt;
      ++padding;
    } else if (!alpha || padding > 0) {
      return std::nullopt;
    }
  }
  std::vector<unsigned char> out(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) != out.size()) return std::nullopt;
  out.resize(out.size() - padding);
  return out;
}

// RFC 5802 "printable": %x21-2B / %x2D-7E, i.e. visible ASCII except ','.
bool isPrintableNonce(std::string_view s) {
  for (const char c : s) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return !s.empty();
}

// RFC 5802 saslname: ',' and '=' are escaped as "=2C" and "=3D".
std::string escapeSaslName(std::string_view name) {
  std::string out;
  for (const char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

std::string randomNonce(bool& ok) {
  std::array<unsigned char, 18> raw{};
  ok = RAND_bytes(raw.data(), static_cast<int>(raw.size())) == 1;
  if (!ok) return {};
  return base64Encode(raw.data(), raw.size());
}

// PostgreSQL runs the password through SASLprep (RFC 4013) and uses the raw bytes when the result would be
// invalid (not UTF-8, prohibited characters). An ASCII password needs no preparation, so it is exact. A
// non-ASCII password is used as raw bytes too: this matches PostgreSQL whenever SASLprep leaves the string
// unchanged (NFKC-normalized text without non-ASCII spaces or mapped-to-nothing characters, the common case)
// and differs otherwise. Full SASLprep would need libidn's stringprep (Debian libidn-dev), not yet a dependency.
std::string_view preparePassword(std::string_view password) { return password; }

bool hmacSha256(const unsigned char* key, size_t key_size, std::string_view data, Digest& out) {
  unsigned int len = 0;
  return HMAC(EVP_sha256(), key, static_cast<int>(key_size), reinterpret_cast<const unsigned char*>(data.data()),
              data.size(), out.data(), &len) != nullptr &&
         len == out.size();
}

struct ServerFirst {
  std::string_view nonce;
  std::vector<unsigned char> salt;
  uint32_t iterations = 0;
};

// server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
Result<ServerFirst> parseServerFirst(std::string_view msg, std::string_view client_nonce) {
  std::vector<std::string_view> attrs;
  size_t start = 0;
  while (true) {
    const size_t comma = msg.find(',', start);
    attrs.push_back(msg.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (!attrs.empty() && attrs[0].starts_with("m=")) {
    return makeError("SCRAM: the server requires an extension (m=) that is not supported");
  }
  if (attrs.size() < 3 || !attrs[0].starts_with("r=") || !attrs[1].starts_with("s=") ||
      !attrs[2].starts_with("i=")) {
    return makeError("SCRAM: malformed server-first-message (expected r=...,s=...,i=...)");
  }
  ServerFirst out;
  out.nonce = attrs[0].substr(2);
  if (!isPrintableNonce(out.nonce)) return makeError("SCRAM: server nonce has invalid characters");
  // The server's nonce must extend ours, or this reply belongs to some other exchange (or an attacker).
  if (out.nonce.size() <= client_nonce.size() || !out.nonce.starts_with(client_nonce)) {
    return makeError("SCRAM: server nonce does not extend the client nonce");
  }
  auto salt = base64Decode(attrs[1].substr(2));
  if (!salt || salt->empty()) return makeError("SCRAM: server salt is not valid base64");
  out.salt = std::move(*salt);

  const std::string_view count = attrs[2].substr(2);
  uint64_t iterations = 0;
  const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), iterations);
  if (count.empty() || ec != std::errc() || end != count.data() + count.size()) {
    return makeError("SCRAM: iteration count is not a number");
  }
  if (iterations < 1 || iterations > kMaxScramIterations) {
    return makeError("SCRAM: iteration count " + std::string(count) + " is outside 1.." +
                     std::to_string(kMaxScramIterations));
  }
  out.iterations = static_cast<uint32_t>(iterations);
  return out;
}

}  // namespace

ScramClient::ScramClient(std::string password, std::string client_nonce, std::string user)
    : password_(std::move(password)), client_nonce_(std::move(client_nonce)) {
  if (client_nonce_.empty()) {
    client_nonce_ = randomNonce(nonce_ok_);
  } else {
    nonce_ok_ = isPrintableNonce(client_nonce_);
  }
  client_first_bare_ = "n=" + escapeSaslName(user) + ",r=" + client_nonce_;
}

ScramClient::~ScramClient() {
  OPENSSL_cleanse(password_.data(), password_.size());
  OPENSSL_cleanse(server_signature_.data(), server_signature_.size());
}

std::string ScramClient::clientFirstMessage() const { return "n,," + client_first_bare_; }

Result<std::string> ScramClient::handleServerFirst(std::string_view server_first) {
  if (state_ != State::kInitial) return makeError("SCRAM: unexpected server-first-message");
  state_ = State::kFailed;  // until this succeeds
  if (!nonce_ok_) return makeError("SCRAM: no usable client nonce (random generator failed)");
  auto parsed = parseServerFirst(server_first, client_nonce_);
  if (!parsed) return parsed.error();

  const std::string_view password = preparePassword(password_);
  if (password.size() > INT_MAX || parsed->salt.size() > INT_MAX) return makeError("SCRAM: password too long");

  Digest salted{};
  Digest client_key{};
  Digest stored_key{};
  Digest client_signature{};
  Digest server_key{};
  const Cleanse<Digest> c1{salted}, c2{client_key}, c3{stored_key}, c4{client_signature}, c5{server_key};

  // SaltedPassword := Hi(Normalize(password), salt, i)   (RFC 5802 section 3)
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), parsed->salt.data(),
                        static_cast<int>(parsed->salt.size()), static_cast<int>(parsed->iterations), EVP_sha256(),
                        static_cast<int>(salted.size()), salted.data()) != 1) {
    return makeError("SCRAM: PBKDF2 failed");
  }
  if (!hmacSha256(salted.data(), salted.size(), "Client Key", client_key) ||
      SHA256(client_key.data(), client_key.size(), stored_key.data()) == nullptr ||
      !hmacSha256(salted.data(), salted.size(), "Server Key", server_key)) {
    return makeError("SCRAM: HMAC failed");
  }

  // "biws" is base64("n,,"): no channel binding, no authzid.
  std::string final_message = "c=biws,r=" + std::string(parsed->nonce);
  const std::string auth_message = client_first_bare_ + "," + std::string(server_first) + "," + final_message;
  if (!hmacSha256(stored_key.data(), stored_key.size(), auth_message, client_signature) ||
      !hmacSha256(server_key.data(), server_key.size(), auth_message, server_signature_)) {
    return makeError("SCRAM: HMAC failed");
  }
  Digest proof{};
  const Cleanse<Digest> c6{proof};
  for (size_t i = 0; i < proof.size(); ++i) proof[i] = client_key[i] ^ client_signature[i];

  final_message += ",p=" + base64Encode(proof.data(), proof.size());
  state_ = State::kSentFinal;
  return final_message;
}

Result<void> ScramClient::verifyServerFinal(std::string_view server_final) {
  if (state_ != State::kSentFinal) return makeError("SCRAM: unexpected server-final-message");
  state_ = State::kFailed;
  // server-final-message = (server-error / verifier) ["," extensions]
  const std::string_view first = server_final.substr(0, server_final.find(','));
  if (first.starts_with("e=")) {
    return makeError("SCRAM: the server refused the authentication: " + std::string(first.substr(2)));
  }
  if (!first.starts_with("v=")) return makeError("SCRAM: malformed server-final-message");
  const auto signature = base64Decode(first.substr(2));
  if (!signature || signature->size() != server_signature_.size()) {
    return makeError("SCRAM: malformed server signature");
  }
  if (CRYPTO_memcmp(signature->data(), server_signature_.data(), server_signature_.size()) != 0) {
    return makeError("SCRAM: the server's signature is wrong (the server does not know the password)");
  }
  state_ = State::kDone;
  return {};
}

Result<std::string> md5Password(std::string_view user, std::string_view password, std::string_view salt) {
  const auto md5Hex = [](std::string_view data) -> std::optional<std::string> {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_md5(), nullptr) != 1 || len != 16) {
      return std::nullopt;
    }
    return std::optional<std::string>(core::toHex(md.data(), len));
  };
  std::string inner_input = std::string(password) + std::string(user);
  const Cleanse<std::string> c1{inner_input};
  auto inner = md5Hex(inner_input);
  if (!inner) return makeError("md5 password: MD5 is not available in this OpenSSL configuration");
  const Cleanse<std::string> c2{*inner};
  std::string outer_input = *inner + std::string(salt);
  const Cleanse<std::string> c3{outer_input};
  auto outer = md5Hex(outer_input);
  if (!outer) return makeError("md5 password: MD5 is not available in this OpenSSL configuration");
  return "md5" + *outer;
}

}  // namespace gatehouse::pg
