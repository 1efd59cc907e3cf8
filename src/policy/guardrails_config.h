// Compiles a connection's guardrails as written in the config (core::GuardrailsConfig) into the engine's form,
// checking every kind, object and condition name; an error names the rule's YAML path and what is known.
#pragma once

#include "core/config.h"
#include "core/result.h"
#include "policy/guardrails.h"

namespace gatehouse::policy {

Result<Guardrails> compileGuardrails(const core::GuardrailsConfig& config);

}  // namespace gatehouse::policy
