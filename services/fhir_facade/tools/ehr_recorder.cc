// parallax-ehr-recorder: A TEST DOUBLE for the hospital EHR. A small
// in-memory FHIR R4 server (conditional update / create, read) that records
// every request, for tests and the demo. See src/ehr_recorder.h.
//
//   parallax-ehr-recorder [--port N] [--bind ADDRESS] [--base-path /fhir]
//
// Prints "listening on <port>" once it accepts connections; stops on
// SIGINT/SIGTERM.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "ehr_recorder.h"
#include "parallax/http/server.h"
#include "parallax/log/log.h"
#include "parallax/process/termination.h"

int main(int argc, char** argv) {
  int port = 8091;
  std::string bind = "127.0.0.1";
  std::string base_path = "/fhir";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--bind") == 0 && i + 1 < argc) bind = argv[++i];
    else if (std::strcmp(argv[i], "--base-path") == 0 && i + 1 < argc) base_path = argv[++i];
    else {
      std::cerr << "usage: parallax-ehr-recorder [--port N] [--bind ADDRESS] [--base-path /fhir]\n"
                   "A test double for the hospital EHR (in-memory FHIR R4 server); not an EHR.\n";
      return 2;
    }
  }
  parallax::log::Configure("ehr-recorder", parallax::log::Level::kInfo);
  parallax::process::BlockTerminationSignals();
  parallax::fhir_facade::EhrRecorder recorder({base_path});
  parallax::http::Router router;
  recorder.AddRoutes(router);
  parallax::http::ServerOptions options;
  options.bind_address = bind;
  options.port = port;
  options.threads = 4;
  parallax::http::Server server(options, std::move(router));
  if (auto s = server.Start(); !s.ok()) {
    std::cerr << "parallax-ehr-recorder: " << s.message() << "\n";
    return 1;
  }
  std::cout << "listening on " << server.port() << std::endl;
  parallax::log::Info("EHR test double serving", {{"port", server.port()}, {"base_path", base_path}});
  parallax::process::WaitForTerminationSignal();
  server.Stop();
  return 0;
}
