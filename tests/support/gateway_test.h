// The GoogleTest base for integration suites that share one gateway: a failed suite setup fails every test
// with its reason (instead of crashing on a null gateway), and a failing test prints the gateway's log tail.
#pragma once

#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <string>

#include "support/suite_gateway.h"

namespace gatehouse::testing {

// `Suite` is the derived fixture (CRTP), so that each suite has its own static state.
template <class Suite>
class GatewaySuiteTest : public ::testing::Test {
 protected:
  static bool startSuite(const std::string& prefix, const CustomizeGateway& customize = {}) {
    auto suite = startSuiteGateway(prefix, customize);
    if (!suite) {
      error_ = suite.error().message;
      return false;
    }
    suite_ = std::make_unique<SuiteGateway>(std::move(*suite));
    return true;
  }
  // Issues a token, or records the failure for SetUp to report.
  static std::string issueToken(const std::string& user, const std::vector<std::string>& groups) {
    if (!suite_) return {};
    auto token = suite_->gateway->createToken(user, groups);
    if (!token) {
      error_ = token.error().message;
      return {};
    }
    return token->token;
  }
  static void TearDownTestSuite() { suite_.reset(); }

  void SetUp() override {
    if (!error_.empty()) GTEST_FAIL() << "suite setup failed: " << error_;
  }
  void TearDown() override {
    if (HasFailure() && suite_ && suite_->gateway) {
      std::cerr << "---- gateway log tail (" << suite_->gateway->logPath().string() << ") ----\n"
                << suite_->gateway->logTail() << "\n---- end of gateway log ----\n";
    }
  }

  static GatewayHarness& gateway() { return *suite_->gateway; }

  static inline std::unique_ptr<SuiteGateway> suite_;
  static inline std::string error_;
};

}  // namespace gatehouse::testing
