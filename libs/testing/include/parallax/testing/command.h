#pragma once
// Runs a shell command for a test (DCMTK tools, curl, scripts/lib/*.sh) and
// keeps what it printed.
#include <string>

namespace parallax::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when the command could not be run or was killed
  std::string output;  // stdout and stderr together
};

// `command` through /bin/sh, with stderr joined to stdout.
CommandResult RunCommand(const std::string& command);

}  // namespace parallax::testing
