// A self-signed certificate for the gateway's client-facing TLS, generated on first start when the
// configuration names none (so `sslmode=require` works out of the box; clients that verify need a real one).
#pragma once

#include <filesystem>
#include <string>

#include "core/result.h"

namespace gatehouse::net {

// If both files exist, leaves them as they are. Otherwise writes a new EC P-256 key (PKCS#8 PEM, mode 0600)
// and an X.509 v3 certificate valid for one year (PEM, mode 0644) with CN = common_name and subjectAltName
// DNS:localhost, IP:127.0.0.1, IP:::1 and the common name. Each file is replaced atomically; missing parent
// directories are created. common_name: a host name or IP address of at most 64 characters.
Result<void> ensureSelfSignedCertificate(const std::filesystem::path& cert, const std::filesystem::path& key,
                                         const std::string& common_name);

}  // namespace gatehouse::net
