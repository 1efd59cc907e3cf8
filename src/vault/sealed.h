// Backend credentials sealed at rest: a 32-byte master key (libsodium secretbox: XSalsa20-Poly1305) and the
// text format of a sealed secret. Secrets in gatehouse.yaml are references (an environment variable, or a
// sealed file), never values; resolveSecret turns a reference into the secret.
#pragma once

#include <sodium.h>

#include <array>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/files.h"
#include "core/result.h"

namespace gatehouse::vault {

inline constexpr std::string_view kSealedPrefix = "gatehouse-sealed-v1:";

struct MasterKey {
  std::array<unsigned char, crypto_secretbox_KEYBYTES> bytes{};

  MasterKey() = default;
  MasterKey(const MasterKey&) = default;
  MasterKey& operator=(const MasterKey&) = default;
  ~MasterKey() { sodium_memzero(bytes.data(), bytes.size()); }
};

Result<MasterKey> generateMasterKey();

// Accepts 64 hex digits or standard base64 (32 bytes), surrounding whitespace ignored.
// Errors never echo the text: it may be a real key with a typo.
Result<MasterKey> parseMasterKey(std::string_view text);

// 64 lowercase hex digits, no newline.
std::string formatMasterKey(const MasterKey& key);

// ref.env: the variable holds the key text. ref.sealed_file: here the path of a plain key file (one line), which
// must not be readable or writable by others, nor writable by its group.
Result<MasterKey> loadMasterKey(const core::SecretRef& ref);

// "gatehouse-sealed-v1:" + base64(nonce || secretbox(plaintext)) + "\n", with a fresh random nonce.
std::string seal(std::string_view plaintext, const MasterKey& key);

// Refuses anything that is not exactly what seal() produced with this key (tampered, truncated, other key).
Result<std::string> unseal(std::string_view sealed, const MasterKey& key);

// The secret a reference points at. env: the variable's value (unset or empty is an error naming the variable);
// sealed_file: the file unsealed with `key` (nullptr: no master key configured, an error).
Result<std::string> resolveSecret(const core::SecretRef& ref, const MasterKey* key);

// Kept under the vault namespace for its callers; the implementation is shared.
using core::writeFileAtomically;

}  // namespace gatehouse::vault
