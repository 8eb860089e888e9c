// parallax-ingest: the DICOM edge. Reads its config, starts, waits for a signal.
#include <cstring>
#include <iostream>
#include <string>

#include "parallax/log/log.h"
#include "parallax/process/termination.h"
#include "src/ingest_config.h"
#include "src/ingest_service.h"

int main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) config_path = argv[++i];
    else {
      std::cerr << "usage: parallax-ingest [--config FILE]  (environment: PARALLAX_INGEST_<KEY>)\n";
      return 2;
    }
  }
  parallax::ingest::IngestConfig config;
  absl::Status s = parallax::ingest::LoadIngestConfig(config_path, &config);
  if (!s.ok()) {
    std::cerr << "parallax-ingest: " << s.message() << "\n";
    return 2;
  }
  parallax::log::Level level;
  parallax::log::ParseLevel(config.log_level, &level);
  parallax::log::Configure("ingest", level);

  parallax::process::BlockTerminationSignals();

  parallax::ingest::IngestService service(config);
  s = service.Start();
  if (!s.ok()) {
    parallax::log::Error("ingest cannot start", {{"error", std::string(s.message())}});
    return 1;
  }
  const int received = parallax::process::WaitForTerminationSignal();
  parallax::log::Info("stopping", {{"signal", received}});
  service.Stop();
  return 0;
}
