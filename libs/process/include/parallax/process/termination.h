#pragma once
// How a service main waits to be stopped. Call BlockTerminationSignals()
// first thing in main, before any thread starts, so every thread inherits
// the mask and SIGINT/SIGTERM are only ever taken by
// WaitForTerminationSignal(). SIGPIPE is ignored (a closed peer socket is an
// error return, not a crash).
namespace parallax::process {

void BlockTerminationSignals();

// Blocks until SIGINT or SIGTERM arrives; returns the signal number.
int WaitForTerminationSignal();

}  // namespace parallax::process
