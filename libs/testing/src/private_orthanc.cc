#include "parallax/testing/private_orthanc.h"

#include <fstream>

#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"

namespace parallax::testing {

PrivateOrthanc::PrivateOrthanc(std::string workdir, int http_port, int dicom_port)
    : script_(SourceDir() + "/scripts/lib/orthanc.sh"),
      workdir_(std::move(workdir)),
      http_port_(http_port),
      dicom_port_(dicom_port) {}

std::unique_ptr<PrivateOrthanc> PrivateOrthanc::Start(const std::string& workdir, const std::string& config_json,
                                                      std::string* error) {
  std::unique_ptr<PrivateOrthanc> orthanc(new PrivateOrthanc(workdir, FreeTcpPort(), FreeTcpPort()));
  const std::string fragment = workdir + "-fragment.json";
  std::ofstream(fragment) << config_json;
  CommandResult started = RunCommand(orthanc->script_ + " start " + workdir + " " +
                                     std::to_string(orthanc->http_port_) + " " +
                                     std::to_string(orthanc->dicom_port_) + " " + fragment);
  if (started.exit_code != 0) {
    orthanc->running_ = false;
    if (error != nullptr) *error = started.output;
    return nullptr;
  }
  return orthanc;
}

PrivateOrthanc::~PrivateOrthanc() { Stop(); }

void PrivateOrthanc::Stop() {
  if (running_) RunCommand(script_ + " stop " + workdir_);
  running_ = false;
}

std::string PrivateOrthanc::LogTail() const { return RunCommand("tail -n 30 " + workdir_ + "/orthanc.log").output; }

std::string PrivateOrthanc::Get(const std::string& path, bool* ok) const {
  CommandResult r = RunCommand("curl -sf " + base_url() + path);
  if (ok != nullptr) *ok = r.exit_code == 0;
  return r.exit_code == 0 ? r.output : "";
}

std::string PrivateOrthanc::Lookup(const std::string& sop_instance_uid) const {
  CommandResult found = RunCommand("curl -sf -X POST --data '" + sop_instance_uid + "' " + base_url() + "/tools/lookup");
  if (found.exit_code != 0) return {};
  // [{"ID": "...", "Path": "/instances/...", "Type": "Instance"}]: no JSON
  // library here, and the answer's shape is fixed.
  const size_t type = found.output.find("\"Instance\"");
  if (type == std::string::npos) return {};
  const size_t id = found.output.rfind("\"ID\"", type);
  if (id == std::string::npos) return {};
  const size_t open = found.output.find('"', found.output.find(':', id) + 1);
  const size_t close = found.output.find('"', open + 1);
  return open == std::string::npos || close == std::string::npos ? "" : found.output.substr(open + 1, close - open - 1);
}

}  // namespace parallax::testing
