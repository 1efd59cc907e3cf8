// The CLI commands for machine identities and issued session tokens: `gatehouse serviceaccount create | list |
// rotate | revoke` and `gatehouse token sessions`. Keys are printed once, on stdout, so that
// `KEY=$(gatehouse serviceaccount create ci --groups deploy)` works; hints go to stderr. Return 0 on success, 1 on
// failure (with the reason on stderr).
#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace gatehouse::cli {

int runServiceAccountCreate(const core::Config& config, const std::string& name, const std::vector<std::string>& groups,
                            bool json);
int runServiceAccountList(const core::Config& config, bool json);
int runServiceAccountRotate(const core::Config& config, const std::string& name, bool keep_old, bool json);
int runServiceAccountRevoke(const core::Config& config, const std::string& key_id);
// Session tokens the gateway issued, newest first (only the unexpired, unrevoked ones unless `all`).
int runSessionTokenList(const core::Config& config, bool all, bool json);

}  // namespace gatehouse::cli
