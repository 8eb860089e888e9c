#pragma once
// A private Orthanc (the PACS of the tests) for one test, started with
// scripts/lib/orthanc.sh on free ports in its own folder and stopped by the
// destructor.
#include <memory>
#include <string>

#include "parallax/testing/command.h"

namespace parallax::testing {

class PrivateOrthanc {
 public:
  // `config_json`: an Orthanc configuration fragment merged over the
  // script's defaults (e.g. DicomModalities). Returns nullptr when Orthanc
  // does not start; `error` then holds what the script printed.
  static std::unique_ptr<PrivateOrthanc> Start(const std::string& workdir, const std::string& config_json,
                                               std::string* error);
  ~PrivateOrthanc();
  PrivateOrthanc(const PrivateOrthanc&) = delete;
  PrivateOrthanc& operator=(const PrivateOrthanc&) = delete;

  void Stop();
  int dicom_port() const { return dicom_port_; }
  int http_port() const { return http_port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  // The end of Orthanc's log, for a failing test's message.
  std::string LogTail() const;
  // GET of a REST path (e.g. "/instances"): its body, or "" with ok = false.
  std::string Get(const std::string& path, bool* ok = nullptr) const;
  // Orthanc's id of the instance with this SOP Instance UID; "" when none.
  std::string Lookup(const std::string& sop_instance_uid) const;

 private:
  PrivateOrthanc(std::string workdir, int http_port, int dicom_port);
  std::string script_;
  std::string workdir_;
  int http_port_;
  int dicom_port_;
  bool running_ = true;
};

}  // namespace parallax::testing
