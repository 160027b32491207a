// NcclCore: enqueue with ncclInProgress handling, watchdog (timeouts, async errors), abort.
#include "distributed/nccl/nccl_core.h"

#include <cstdio>
#include <cstdlib>

#include "core/clock.h"
#include "core/error.h"

namespace trainrun {
namespace {

std::exception_ptr timeoutError(const std::string& what, std::chrono::milliseconds timeout) {
  return std::make_exception_ptr(
      TimeoutError("nccl " + what + " did not complete within " + std::to_string(timeout.count()) +
                   " ms; communicator aborted (a peer rank is probably dead or stuck)"));
}

}  // namespace

std::string ncclErrorText(ncclResult_t r, ncclComm_t comm) {
  std::string text = std::string("NCCL error '") + ncclGetErrorString(r) + "'";
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && *last != '\0') text += ": " + std::string(last);
  for (auto& c : text)
    if (c == '\n') c = ' ';  // errors are one line
  return text;
}

std::string describeFailure(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown error";
  }
}

void NcclWorkState::fail(std::exception_ptr e) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_) return;
  error_ = std::move(e);
  recorder->finish(record.seq, /*ok=*/false);
}

std::exception_ptr NcclWorkState::error() {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

NcclCore::NcclCore(ncclComm_t comm, int rank, int size, int device, NcclOptions options)
    : comm_(comm), rank_(rank), size_(size), device_(device), options_(options) {
  watchdog_ = std::thread([this] { watchdogLoop(); });
}

NcclCore::~NcclCore() {
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    stop_ = true;
  }
  wake_.notify_all();
  watchdog_.join();
  cudaSetDevice(device_);
  std::lock_guard<std::mutex> lock(comm_mu_);
  if (aborted_.exchange(true)) return;
  // Finalize flushes outstanding work; on a nonblocking communicator it returns at once and
  // we poll, so a peer that died mid-collective costs at most the timeout, not a hang.
  ncclResult_t r = ncclCommFinalize(comm_);
  const auto deadline = Clock::now() + options_.timeout;
  while (r == ncclInProgress && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ncclCommGetAsyncError(comm_, &r);
  }
  if (r == ncclSuccess) {
    ncclCommDestroy(comm_);
  } else {
    ncclCommAbort(comm_);
  }
}

void NcclCore::throwIfFailed() {
  std::lock_guard<std::mutex> lock(state_mu_);
  if (failure_) std::rethrow_exception(failure_);
}

void NcclCore::enqueue(const std::function<ncclResult_t(ncclComm_t)>& calls,
                       const std::string& what) {
  throwIfFailed();
  std::unique_lock<std::mutex> lock(comm_mu_);
  if (aborted_) {
    lock.unlock();
    throwIfFailed();
    throw CommError("nccl " + what + ": the communicator was already shut down");
  }
  ncclResult_t r = calls(comm_);
  if (aborted_) {  // aborted while we were inside NCCL: comm_ is gone
    lock.unlock();
    throwIfFailed();
    throw CommError("nccl " + what + ": the communicator was aborted while enqueuing");
  }
  // A nonblocking communicator may still be connecting to peers (first collective between
  // two ranks): poll until it is ready, releasing the lock so the watchdog can abort.
  const auto deadline = Clock::now() + options_.timeout;
  while (r == ncclInProgress) {
    lock.unlock();
    if (Clock::now() > deadline) {
      abort(timeoutError(what, options_.timeout));
      throwIfFailed();
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    throwIfFailed();
    lock.lock();
    if (aborted_) {
      lock.unlock();
      throwIfFailed();
      throw CommError("nccl " + what + ": the communicator was shut down while enqueuing");
    }
    ncclCommGetAsyncError(comm_, &r);
  }
  if (r != ncclSuccess && r != ncclInProgress) {
    const std::string text = ncclErrorText(r, comm_);
    lock.unlock();
    abort(std::make_exception_ptr(CommError("nccl " + what + " failed: " + text)));
    throwIfFailed();
  }
}

void NcclCore::track(const std::shared_ptr<NcclWorkState>& work) {
  std::lock_guard<std::mutex> lock(state_mu_);
  if (failure_) {
    work->fail(failure_);
    return;
  }
  pending_.push_back(work);
}

void NcclCore::abort(std::exception_ptr why) {
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    if (failure_) return;
    failure_ = why;
    // Fail waiters first: ncclCommAbort may block until the device drains.
    for (auto& w : pending_) w->fail(why);
    pending_.clear();
  }
  // Not under comm_mu_: an enqueue holds it inside ncclGroupEnd, which can itself hang on a
  // dead peer. ncclCommAbort may be called from any thread while another NCCL call blocks;
  // it makes that call return.
  if (aborted_.exchange(true)) return;
  // ncclCommAbort can block too (a device that never drains): past the grace period the
  // process ends, so the launcher sees a failed rank instead of one that hangs forever.
  auto returned = std::make_shared<std::atomic<bool>>(false);
  std::thread([returned, grace = options_.abort_grace, what = describeFailure(why)] {
    const auto deadline = Clock::now() + grace;
    while (!*returned && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (*returned) return;
    std::fprintf(stderr,
                 "error: ncclCommAbort did not return within %lld ms after: %s; ending the "
                 "process\n",
                 static_cast<long long>(grace.count()), what.c_str());
    std::fflush(stderr);
    std::_Exit(1);
  }).detach();
  cudaSetDevice(device_);
  ncclCommAbort(comm_);
  *returned = true;
}

void NcclCore::watchdogLoop() {
  cudaSetDevice(device_);  // events and the communicator belong to this device's context
  std::unique_lock<std::mutex> lock(state_mu_);
  while (!stop_) {
    wake_.wait_for(lock, options_.poll_interval, [this] { return stop_; });
    if (stop_ || failure_) continue;
    lock.unlock();
    checkOnce();
    lock.lock();
  }
}

void NcclCore::checkOnce() {
  std::vector<std::shared_ptr<NcclWorkState>> pending;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    pending = pending_;
  }
  std::exception_ptr failure;
  std::vector<NcclWorkState*> finished;
  for (const auto& w : pending) {
    const cudaError_t q = cudaEventQuery(w->done);
    if (q == cudaSuccess) {
      finished.push_back(w.get());
    } else if (q != cudaErrorNotReady) {
      failure = std::make_exception_ptr(
          CommError("nccl " + w->describe() + " failed on the GPU: " + cudaGetErrorString(q)));
      break;
    } else if (Clock::now() > w->deadline) {
      failure = timeoutError(w->describe(), options_.timeout);
      break;
    }
  }
  if (!failure) {
    // Errors NCCL noticed itself (a peer's connection dropped, a network failure).
    std::unique_lock<std::mutex> lock(comm_mu_);
    ncclResult_t r = ncclSuccess;
    if (!aborted_ && ncclCommGetAsyncError(comm_, &r) == ncclSuccess && r != ncclSuccess &&
        r != ncclInProgress) {
      const std::string text = ncclErrorText(r, comm_);
      std::string during = pending.empty() ? "" : " during " + pending.front()->describe();
      failure =
          std::make_exception_ptr(CommError("nccl communicator failed" + during + ": " + text));
    }
  }
  if (failure) {
    abort(failure);
    return;
  }
  std::lock_guard<std::mutex> lock(state_mu_);
  for (auto* done : finished) {
    done->complete();
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->get() == done) {
        pending_.erase(it);
        break;
      }
    }
  }
}

}  // namespace trainrun
