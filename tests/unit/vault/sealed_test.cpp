// Sealed secrets: master key text formats, seal/unseal against tampering, and resolving secret references
// from the environment and from sealed files on disk.
#include "support/temp_dir.h"
#include "vault/sealed.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <vector>

namespace gatehouse::vault {
namespace {

namespace fs = std::filesystem;

// Bytes 0x00..0x1f, written once in each accepted format (base64 computed with Python's base64 module).
constexpr std::string_view kKeyHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr std::string_view kKeyBase64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

using gatehouse::testing::TempDir;

MasterKey key(std::string_view text) {
  auto parsed = parseMasterKey(text);
  EXPECT_TRUE(parsed) << parsed.error().message;
  return parsed ? *parsed : MasterKey{};
}

MasterKey freshKey() {
  auto generated = generateMasterKey();
  EXPECT_TRUE(generated);
  return generated ? *generated : MasterKey{};
}

std::vector<unsigned char> decodeBox(std::string_view sealed) {
  std::string_view b64 = sealed.substr(kSealedPrefix.size());
  b64.remove_suffix(1);  // "\n"
  std::vector<unsigned char> box(b64.size());
  size_t len = 0;
  EXPECT_EQ(sodium_base642bin(box.data(), box.size(), b64.data(), b64.size(), nullptr, &len, nullptr,
                              sodium_base64_VARIANT_ORIGINAL),
            0);
  box.resize(len);
  return box;
}

std::string encodeBox(const std::vector<unsigned char>& box) {
  std::string b64(sodium_base64_ENCODED_LEN(box.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), box.data(), box.size(), sodium_base64_VARIANT_ORIGINAL);
  b64.pop_back();
  return std::string(kSealedPrefix) + b64 + "\n";
}

void writePlain(const fs::path& path, std::string_view contents, fs::perms perms) {
  std::ofstream(path, std::ios::binary) << contents;
  fs::permissions(path, perms);
}

TEST(MasterKey, GeneratedKeysRoundTripThroughText) {
  const MasterKey a = freshKey();
  const MasterKey b = freshKey();
  EXPECT_NE(a.bytes, b.bytes);
  const std::string text = formatMasterKey(a);
  EXPECT_EQ(text.size(), 64u);
  EXPECT_EQ(text.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(key(text).bytes, a.bytes);
}

TEST(MasterKey, ParsesHexAndBase64WithSurroundingWhitespace) {
  std::array<unsigned char, 32> expected{};
  for (unsigned i = 0; i < expected.size(); ++i) expected[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(key(kKeyHex).bytes, expected);
  EXPECT_EQ(key(std::string(kKeyHex) + "\n").bytes, expected);
  EXPECT_EQ(key("  " + std::string(kKeyBase64) + "\r\n").bytes, expected);
  EXPECT_EQ(key(kKeyBase64.substr(0, kKeyBase64.size() - 1)).bytes, expected);  // unpadded
  EXPECT_EQ(formatMasterKey(key(kKeyBase64)), kKeyHex);
}

TEST(MasterKey, RefusesMalformedTextWithoutEchoingIt) {
  const std::string wrong_hex_digit = "g" + std::string(kKeyHex.substr(1));
  for (const std::string_view text : {
           std::string_view(""),
           std::string_view("   \n"),
           kKeyHex.substr(0, 63),                                       // one digit short
           std::string_view(wrong_hex_digit),
           std::string_view("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="),  // 31 bytes
           std::string_view("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"),  // 33 bytes
           std::string_view("correct horse battery staple"),
       }) {
    auto parsed = parseMasterKey(text);
    ASSERT_FALSE(parsed) << text;
    if (text.size() > 8) {
      EXPECT_EQ(parsed.error().message.find(text.substr(2, 6)), std::string::npos) << parsed.error().message;
    }
  }
}

TEST(Seal, RoundTripsAnyBytes) {
  const MasterKey k = freshKey();
  const std::string binary("pa\0ss\xff\n", 7);
  for (const std::string& plaintext : {std::string(), std::string("s3cret"), binary, std::string(100000, 'x')}) {
    const std::string sealed = seal(plaintext, k);
    EXPECT_TRUE(sealed.starts_with("gatehouse-sealed-v1:"));
    EXPECT_TRUE(sealed.ends_with("\n"));
    EXPECT_EQ(sealed.find("s3cret"), std::string::npos);
    auto opened = unseal(sealed, k);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(*opened, plaintext);
  }
}

TEST(Seal, UsesAFreshNonceEachTime) {
  const MasterKey k = freshKey();
  EXPECT_NE(seal("same", k), seal("same", k));
}

TEST(Unseal, RefusesWrongKey) {
  const std::string sealed = seal("s3cret", freshKey());
  auto opened = unseal(sealed, freshKey());
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().message.find("wrong master key"), std::string::npos) << opened.error().message;
}

TEST(Unseal, RefusesEveryFlippedBit) {
  const MasterKey k = freshKey();
  const std::string sealed = seal("s3cret", k);
  const std::vector<unsigned char> box = decodeBox(sealed);
  ASSERT_EQ(box.size(), crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 6);
  ASSERT_TRUE(unseal(encodeBox(box), k));  // the re-encoding itself is faithful
  // Every bit: nonce, authenticator and ciphertext.
  for (size_t bit = 0; bit < box.size() * 8; ++bit) {
    std::vector<unsigned char> tampered = box;
    tampered[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
    EXPECT_FALSE(unseal(encodeBox(tampered), k)) << "bit " << bit;
  }
}

TEST(Unseal, RefusesTruncatedAndForeignInput) {
  const MasterKey k = freshKey();
  const std::string sealed = seal("s3cret", k);
  const std::string body = sealed.substr(0, sealed.size() - 1);
  for (size_t cut = 1; cut < body.size(); ++cut) {
    EXPECT_FALSE(unseal(body.substr(0, body.size() - cut), k)) << "cut " << cut;
  }
  // Whole base64 quanta short of a full nonce + authenticator.
  const std::vector<unsigned char> box = decodeBox(sealed);
  auto too_short = unseal(encodeBox({box.begin(), box.begin() + 30}), k);
  ASSERT_FALSE(too_short);
  EXPECT_NE(too_short.error().message.find("truncated"), std::string::npos) << too_short.error().message;

  auto foreign = unseal("s3cret", k);
  ASSERT_FALSE(foreign);
  EXPECT_NE(foreign.error().message.find("not a Gatehouse sealed secret"), std::string::npos);
  EXPECT_FALSE(unseal("gatehouse-sealed-v2:" + sealed.substr(kSealedPrefix.size()), k));
}

TEST(LoadMasterKey, FromEnvironment) {
  ::setenv("GH_TEST_MASTER_KEY", std::string(kKeyHex).c_str(), 1);
  auto loaded = loadMasterKey({.env = "GH_TEST_MASTER_KEY", .sealed_file = {}});
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(formatMasterKey(*loaded), kKeyHex);

  ::setenv("GH_TEST_MASTER_KEY", "hunter2-is-my-key", 1);
  auto bad = loadMasterKey({.env = "GH_TEST_MASTER_KEY", .sealed_file = {}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("GH_TEST_MASTER_KEY"), std::string::npos);
  EXPECT_EQ(bad.error().message.find("hunter2"), std::string::npos) << bad.error().message;
  ::unsetenv("GH_TEST_MASTER_KEY");

  auto unset = loadMasterKey({.env = "GH_TEST_MASTER_KEY", .sealed_file = {}});
  ASSERT_FALSE(unset);
  EXPECT_NE(unset.error().message.find("GH_TEST_MASTER_KEY is not set"), std::string::npos);
}

TEST(LoadMasterKey, FromPrivateKeyFileOnly) {
  TempDir dir;
  const fs::path file = dir.path() / "master.key";
  const MasterKey k = freshKey();
  ASSERT_TRUE(writeFileAtomically(file, formatMasterKey(k) + "\n"));
  auto loaded = loadMasterKey({.env = {}, .sealed_file = file});
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->bytes, k.bytes);

  writePlain(file, kKeyBase64, fs::perms::owner_read);
  EXPECT_TRUE(loadMasterKey({.env = {}, .sealed_file = file}));

  for (const auto perms : {fs::perms::owner_read | fs::perms::others_read,
                           fs::perms::owner_read | fs::perms::group_write}) {
    fs::permissions(file, perms);
    auto exposed = loadMasterKey({.env = {}, .sealed_file = file});
    ASSERT_FALSE(exposed);
    EXPECT_NE(exposed.error().message.find("chmod 600"), std::string::npos) << exposed.error().message;
  }

  auto missing = loadMasterKey({.env = {}, .sealed_file = dir.path() / "nope.key"});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope.key"), std::string::npos);
}

TEST(ResolveSecret, FromEnvironmentNamesTheVariableOnError) {
  ::setenv("GH_TEST_PG_PASSWORD", "env-s3cret", 1);
  auto value = resolveSecret({.env = "GH_TEST_PG_PASSWORD", .sealed_file = {}}, nullptr);
  ASSERT_TRUE(value) << value.error().message;
  EXPECT_EQ(*value, "env-s3cret");

  ::setenv("GH_TEST_PG_PASSWORD", "", 1);
  auto empty = resolveSecret({.env = "GH_TEST_PG_PASSWORD", .sealed_file = {}}, nullptr);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("GH_TEST_PG_PASSWORD is empty"), std::string::npos);

  ::unsetenv("GH_TEST_PG_PASSWORD");
  auto unset = resolveSecret({.env = "GH_TEST_PG_PASSWORD", .sealed_file = {}}, nullptr);
  ASSERT_FALSE(unset);
  EXPECT_NE(unset.error().message.find("GH_TEST_PG_PASSWORD is not set"), std::string::npos);
  EXPECT_EQ(unset.error().message.find("env-s3cret"), std::string::npos);
}

TEST(ResolveSecret, FromSealedFile) {
  TempDir dir;
  const MasterKey k = freshKey();
  const fs::path file = dir.path() / "pg.sealed";
  ASSERT_TRUE(writeFileAtomically(file, seal("file-s3cret", k), 0644));
  const core::SecretRef ref{.env = {}, .sealed_file = file};

  auto value = resolveSecret(ref, &k);
  ASSERT_TRUE(value) << value.error().message;
  EXPECT_EQ(*value, "file-s3cret");

  auto no_key = resolveSecret(ref, nullptr);
  ASSERT_FALSE(no_key);
  EXPECT_NE(no_key.error().message.find("no master key"), std::string::npos);

  const MasterKey other = freshKey();
  auto wrong = resolveSecret(ref, &other);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("pg.sealed"), std::string::npos);
  EXPECT_EQ(wrong.error().message.find("file-s3cret"), std::string::npos);

  auto missing = resolveSecret({.env = {}, .sealed_file = dir.path() / "gone.sealed"}, &k);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("gone.sealed"), std::string::npos);
}

TEST(ResolveSecret, RefusesAmbiguousOrEmptyReference) {
  const MasterKey k = freshKey();
  EXPECT_FALSE(resolveSecret({.env = {}, .sealed_file = {}}, &k));
  EXPECT_FALSE(resolveSecret({.env = "HOME", .sealed_file = "x.sealed"}, &k));
  EXPECT_FALSE(loadMasterKey({.env = {}, .sealed_file = {}}));
}

TEST(WriteFileAtomically, SetsModeDespiteUmaskAndReplacesWholeFile) {
  TempDir dir;
  const fs::path file = dir.path() / "out.txt";
  const mode_t old_umask = ::umask(0);
  auto first = writeFileAtomically(file, "first version, longer");
  ::umask(old_umask);
  ASSERT_TRUE(first) << first.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  ASSERT_TRUE(writeFileAtomically(file, "second", 0644));
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  std::ifstream in(file);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "second");

  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);  // no temporary left behind

  EXPECT_FALSE(writeFileAtomically(dir.path() / "no-such-dir" / "f", "x"));
}

}  // namespace
}  // namespace gatehouse::vault
