// File helpers shared by every area that writes secrets or keys to disk.
#pragma once

#include <filesystem>
#include <string_view>

#include "core/result.h"

namespace gatehouse::core {

// Writes `contents` to `path` so that a reader sees the old file or the whole new one, never a part: a temporary
// file beside it (mode set with fchmod, so the umask cannot change it), fsync, rename, then fsync of the directory
// so that the rename itself is durable.
Result<void> writeFileAtomically(const std::filesystem::path& path, std::string_view contents, unsigned mode = 0600);

}  // namespace gatehouse::core
