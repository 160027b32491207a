// NcclCore: one NCCL communicator's lifetime, its in-flight work list and its watchdog thread.
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "distributed/flight_recorder.h"
#include "distributed/nccl/nccl_communicator.h"

namespace trainrun {

// One collective as the watchdog sees it; shared by the NcclWork handed to the caller.
struct NcclWorkState {
  NcclWorkState(CollectiveRecord record, std::shared_ptr<FlightRecorder> recorder, cudaEvent_t done,
                std::chrono::steady_clock::time_point deadline)
      : record(std::move(record)), recorder(std::move(recorder)), done(done), deadline(deadline) {}
  ~NcclWorkState() { cudaEventDestroy(done); }

  // "collective #12 (allreduce of 4096 bytes at step 7)": the start of every message about it.
  std::string describe() const { return record.describe(); }
  // The watchdog saw the event fire: the flight recorder marks it completed.
  void complete() { recorder->finish(record.seq, /*ok=*/true); }
  void fail(std::exception_ptr e);
  std::exception_ptr error();

  const CollectiveRecord record;
  const std::shared_ptr<FlightRecorder> recorder;
  const cudaEvent_t done;  // recorded on the comm stream after the NCCL calls
  const std::chrono::steady_clock::time_point deadline;

 private:
  std::mutex mu_;
  std::exception_ptr error_;
};

// Threads: collectives are issued from the caller's thread; the watchdog thread polls events
// and ncclCommGetAsyncError and may abort at any time. comm_mu_ serializes the enqueue and
// poll calls; abort() deliberately does not take it (NCCL lets ncclCommAbort interrupt a
// blocked call from another thread), and every holder re-checks aborted_ before using comm_.
class NcclCore {
 public:
  NcclCore(ncclComm_t comm, int rank, int size, int device, NcclOptions options);
  ~NcclCore();  // stops the watchdog; finalizes+destroys cleanly, or aborts if anything hangs

  int rank() const { return rank_; }
  int size() const { return size_; }
  int device() const { return device_; }
  const NcclOptions& options() const { return options_; }

  // Runs `calls` (NCCL enqueue calls on comm) under the comm lock, then waits out
  // ncclInProgress (nonblocking communicator) within the timeout. Throws the communicator's
  // failure if it was aborted, and aborts + throws on error or timeout.
  void enqueue(const std::function<ncclResult_t(ncclComm_t)>& calls, const std::string& what);
  // Hands an issued collective to the watchdog (failed at once if the comm already failed).
  void track(const std::shared_ptr<NcclWorkState>& work);
  // Idempotent: records `why` as the communicator's failure, fails every in-flight work with
  // it (waking their waiters), then ncclCommAbort.
  void abort(std::exception_ptr why);
  // Rethrows the communicator's failure, if any.
  void throwIfFailed();

 private:
  void watchdogLoop();
  void checkOnce();

  ncclComm_t comm_;
  const int rank_, size_, device_;
  const NcclOptions options_;

  std::mutex comm_mu_;                // serializes enqueue, async-error polls and destruction
  std::atomic<bool> aborted_{false};  // set once, by abort() or the destructor

  std::mutex state_mu_;
  std::exception_ptr failure_;                           // guarded by state_mu_
  std::vector<std::shared_ptr<NcclWorkState>> pending_;  // guarded by state_mu_
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by state_mu_
  std::thread watchdog_;
};

// The message of an exception_ptr, for one-line reports.
std::string describeFailure(const std::exception_ptr& e);
// "NCCL error 'unhandled system error': <last error detail>" for messages.
std::string ncclErrorText(ncclResult_t r, ncclComm_t comm);

}  // namespace trainrun
