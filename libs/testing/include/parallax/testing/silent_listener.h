#pragma once
// A loopback TCP port that accepts connections (the kernel completes the
// handshake) but never answers: a peer that hangs, for timeout tests.
namespace parallax::testing {

class SilentListener {
 public:
  SilentListener();  // binds 127.0.0.1 on a free port; port() is 0 when that failed
  ~SilentListener();
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace parallax::testing
