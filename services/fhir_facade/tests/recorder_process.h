#pragma once
// Runs the parallax-ehr-recorder executable (the EHR test double) on a free
// loopback port for one test, and stops it (SIGTERM, then SIGKILL) after.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "parallax/http/client.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"

extern char** environ;

namespace parallax::fhir_facade::testing {

class RecorderProcess {
 public:
  RecorderProcess() : port_(parallax::testing::FreeTcpPort()) {
    const std::string binary = parallax::testing::BinDir() + "/services/fhir_facade/parallax-ehr-recorder";
    const std::string port = std::to_string(port_);
    std::vector<std::string> args = {binary, "--port", port, "--base-path", "/fhir"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, binary.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      FAIL("cannot start " << binary);
    }
    for (int i = 0; i < 100; ++i) {
      auto r = http::Fetch("GET", base() + "/_stats", {}, "", std::chrono::milliseconds(500));
      if (r.ok() && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("parallax-ehr-recorder did not answer on port " << port_);
  }
  ~RecorderProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string fhir_base() const { return base() + "/fhir"; }

 private:
  int port_;
  pid_t pid_ = -1;
};

}  // namespace parallax::fhir_facade::testing
