// Signing in from the command line: `gatehouse login` (OpenID Connect through the gateway's configured provider:
// the authorization code flow with PKCE through a loopback redirect, or the device flow with --device),
// `gatehouse logout`, `gatehouse whoami` and `gatehouse token show`.
//
// The CLI asks the gateway (GET /api/auth/providers) which provider and public client to use, signs in with the
// provider directly, and exchanges the ID token at the gateway (POST /api/token) for a short-lived session token.
// Only that session token is kept, with its identity, in session.json in the user's config directory
// ($GATEHOUSE_CONFIG_DIR, else $XDG_CONFIG_HOME/gatehouse, else ~/.config/gatehouse), mode 0600 in a 0700
// directory. It is what clients present: `PGPASSWORD=$(gatehouse token show) psql ...`.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace gatehouse::cli {

struct LoginOptions {
  std::string gateway;    // the gateway's HTTP API; default $GATEHOUSE_URL, else http://127.0.0.1:18080
  std::string provider;   // the provider's name; empty: the only one configured
  bool device = false;    // the device authorization flow (a machine without a browser)
  bool no_browser = false;  // print the URL only
  std::filesystem::path ca_file;  // trust this CA for an https gateway (one with a self-signed certificate)
  std::chrono::seconds timeout{300};  // for the person to finish signing in
};

int runLogin(const LoginOptions& options);
// Revokes the stored session token at the gateway and removes it.
int runLogout();
// Who the stored session token names, its groups and expiry, as the gateway sees it (it may have been revoked).
int runWhoami(bool json);
// Prints the stored session token (for PGPASSWORD); fails when there is none or it expired.
int runTokenShow();

// Where the session is kept.
std::filesystem::path sessionFile();

}  // namespace gatehouse::cli
