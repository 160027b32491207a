// Collectives through a POSIX shared-memory segment, with futex barriers between phases.
#include "distributed/shm/shm_communicator.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <functional>
#include <random>

#include "core/clock.h"
#include "core/error.h"
#include "distributed/collective_queue.h"

namespace trainrun {
namespace {

// Head of the segment; the slots follow it at kControlBytes.
struct Control {
  std::atomic<uint32_t> arrived;     // ranks inside the current barrier
  std::atomic<uint32_t> generation;  // futex word: the last rank to arrive bumps it
  std::atomic<uint32_t> failed;      // a rank gave up (kLeft, kTimedOut): the others fail too
};
// Why the group failed; the first reason stays. A peer's timeout is this rank's too (a hang:
// it leaves its dump like the rank that timed out), a peer that left is a communication error.
constexpr uint32_t kLeft = 1;
constexpr uint32_t kTimedOut = 2;
static_assert(std::atomic<uint32_t>::is_always_lock_free, "futex words must be plain ints");
constexpr size_t kControlBytes = 4096;
// Polls of the futex word before sleeping on it: a peer usually arrives within microseconds.
constexpr int kSpinsBeforeSleep = 2000;
// Sleeps on the futex are sliced so that deadlines and failed peers are noticed.
constexpr long kSleepSliceNs = 20'000'000;

long futex(std::atomic<uint32_t>* word, int op, uint32_t value, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, timeout, nullptr, 0);
}

std::string errnoText() { return std::strerror(errno); }

// The mapped segment; rank 0 owns the name until every rank has mapped it.
class Segment {
 public:
  Segment(const std::string& name, size_t bytes, bool create) : name_(name), bytes_(bytes) {
    const int fd = shm_open(name.c_str(), create ? O_CREAT | O_EXCL | O_RDWR : O_RDWR, 0600);
    if (fd < 0)
      throw CommError("cannot " + std::string(create ? "create" : "open") +
                      " shared memory segment " + name + ": " + errnoText() +
                      (create ? ""
                              : " (all ranks must share one host; across hosts use "
                                "dist.backend: gloo)"));
    owner_ = create;
    if (create) {
      // Reserve the pages now: a full /dev/shm must be an error here, not a SIGBUS later.
      const int err = ftruncate(fd, static_cast<off_t>(bytes)) != 0
                          ? errno
                          : posix_fallocate(fd, 0, static_cast<off_t>(bytes));
      if (err != 0) {
        ::close(fd);
        unlink();
        throw CommError("cannot reserve " + std::to_string(bytes >> 20) +
                        " MiB of shared memory in /dev/shm: " + std::strerror(err) +
                        " (enlarge it, e.g. docker run --shm-size=1g, or set dist.backend: gloo)");
      }
    } else {
      struct stat st {};
      if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != bytes) {
        ::close(fd);
        throw CommError("shared memory segment " + name +
                        " has the wrong size (ranks disagree "
                        "on the world size or the shm options)");
      }
    }
    void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (base == MAP_FAILED) {
      unlink();
      throw CommError("cannot map shared memory segment " + name + ": " + errnoText());
    }
    base_ = static_cast<char*>(base);
  }
  ~Segment() {
    unlink();
    if (base_ != nullptr) munmap(base_, bytes_);
  }
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  // Removes the name (the memory lives on while mapped), so nothing is left in /dev/shm.
  void unlink() {
    if (owner_) shm_unlink(name_.c_str());
    owner_ = false;
  }
  char* base() const { return base_; }

 private:
  std::string name_;
  size_t bytes_;
  bool owner_ = false;
  char* base_ = nullptr;
};

class ShmCommunicator : public Communicator {
 public:
  ShmCommunicator(std::unique_ptr<Segment> segment, int rank, int size, const ShmOptions& options)
      : Communicator(options.timeout),
        segment_(std::move(segment)),
        rank_(rank),
        size_(size),
        options_(options),
        queue_("shm", recorder(), options.timeout) {}
  ~ShmCommunicator() override {
    // Leaving with collectives unfinished (an error unwinds this rank): fail them, and the
    // peers' matching ones, now rather than at the timeout; after a wait that timed out, as a
    // timeout (the peers leave their hang dumps too).
    queue_.stop([this] { fail(queue_.waitTimedOut() ? kTimedOut : kLeft); });
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backendName() const override { return "shm"; }
  torch::Device device() const override { return torch::kCPU; }
  using Communicator::barrier;
  void abort() override { fail(); }

  // Joins the ranks: returns once every rank has mapped the segment.
  void join() { barrier(std::string("join")); }

  std::unique_ptr<Work> allreduce(std::vector<torch::Tensor>& tensors, ReduceOp op) override {
    for (const auto& t : tensors) checkCpuTensor(t, "shm", "allreduce");
    return queue_.enqueue("allreduce", bytesOf(tensors),
                          [this, tensors, op](const std::string& what) {
                            for (const auto& t : tensors) allreduceOne(t, op, what);
                          });
  }

  std::unique_ptr<Work> broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    for (const auto& t : tensors) checkCpuTensor(t, "shm", "broadcast");
    return queue_.enqueue("broadcast", bytesOf(tensors),
                          [this, tensors, root](const std::string& what) {
                            for (const auto& t : tensors) {
                              char* data = static_cast<char*>(t.data_ptr());
                              forEachRound(t.nbytes(), [&](size_t begin, size_t n) {
                                if (rank_ == root) std::memcpy(slot(root), data + begin, n);
                                barrier(what);
                                if (rank_ != root) std::memcpy(data + begin, slot(root), n);
                                barrier(what);  // root may overwrite its slot only after every copy
                              });
                            }
                          });
  }

  std::unique_ptr<Work> allgather(std::vector<torch::Tensor>& output,
                                  torch::Tensor& input) override {
    checkCpuTensor(input, "shm", "allgather");
    if (output.size() != static_cast<size_t>(size_))
      throw CommError("shm allgather needs " + std::to_string(size_) + " output tensors");
    for (const auto& t : output) {
      checkCpuTensor(t, "shm", "allgather");
      if (t.nbytes() != input.nbytes() || t.scalar_type() != input.scalar_type())
        throw CommError("shm allgather outputs must match the input's dtype and size");
    }
    return queue_.enqueue(
        "allgather", bytesOf(output), [this, output, input](const std::string& what) {
          const char* in = static_cast<const char*>(input.data_ptr());
          forEachRound(input.nbytes(), [&](size_t begin, size_t n) {
            std::memcpy(slot(rank_), in + begin, n);
            barrier(what);
            for (int r = 0; r < size_; ++r)
              std::memcpy(static_cast<char*>(output[r].data_ptr()) + begin, slot(r), n);
            barrier(what);
          });
        });
  }

  void barrier(std::chrono::milliseconds timeout) override {
    queue_.enqueue("barrier", 0, [this](const std::string& what) { barrier(what); })->wait(timeout);
  }

 private:
  Control* control() const { return reinterpret_cast<Control*>(segment_->base()); }
  // Slot r in [0, size) stages rank r's data; slot `size` holds reduction results.
  char* slot(int r) const {
    return segment_->base() + kControlBytes + static_cast<size_t>(r) * options_.slot_bytes;
  }

  // Calls fn(offset, size) for each slot-sized round of `bytes` bytes.
  void forEachRound(size_t bytes, const std::function<void(size_t, size_t)>& fn) {
    for (size_t begin = 0; begin < bytes; begin += options_.slot_bytes)
      fn(begin, std::min(options_.slot_bytes, bytes - begin));
  }

  // Each round: stage, barrier, reduce my share of elements into the result slot (in rank
  // order, so every rank and every run sums the same way), barrier, copy the result out.
  // A rank still copying out a result has not reached the next round's first barrier, so
  // nobody rewrites the result slot under it.
  void allreduceOne(const torch::Tensor& t, ReduceOp op, const std::string& what) {
    const size_t elem = t.element_size();
    const auto options = torch::TensorOptions().dtype(t.scalar_type());
    char* data = static_cast<char*>(t.data_ptr());
    forEachRound(t.nbytes(), [&](size_t begin, size_t bytes) {
      std::memcpy(slot(rank_), data + begin, bytes);
      barrier(what);
      const int64_t n = static_cast<int64_t>(bytes / elem);
      const int64_t lo = n * rank_ / size_, hi = n * (rank_ + 1) / size_;
      if (hi > lo) {
        auto share = [&](int r) {  // (hi - lo,) of slot r
          return torch::from_blob(slot(r) + lo * elem, {hi - lo}, options);
        };
        torch::Tensor out = share(size_);
        out.copy_(share(0));
        for (int r = 1; r < size_; ++r) {
          switch (op) {
            case ReduceOp::kSum:
              out.add_(share(r));
              break;
            case ReduceOp::kMax:
              at::maximum_out(out, out, share(r));
              break;
            case ReduceOp::kMin:
              at::minimum_out(out, out, share(r));
              break;
          }
        }
      }
      barrier(what);
      std::memcpy(data + begin, slot(size_), bytes);
    });
  }

  // Sense-counting barrier over the segment: the last rank in resets the count and bumps the
  // generation; the others poll it briefly, then sleep on it as a futex.
  // `what` names the collective in errors ("collective #3 (allreduce of 64 bytes at step 2)").
  void barrier(const std::string& what) {
    Control* c = control();
    const uint32_t generation = c->generation.load(std::memory_order_acquire);
    if (c->arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<uint32_t>(size_)) {
      c->arrived.store(0, std::memory_order_relaxed);
      c->generation.fetch_add(1, std::memory_order_release);
      futex(&c->generation, FUTEX_WAKE, INT_MAX, nullptr);
      return;
    }
    const Clock::time_point deadline = Clock::now() + options_.timeout;
    for (int spin = 0; c->generation.load(std::memory_order_acquire) == generation; ++spin) {
      const uint32_t failed = c->failed.load(std::memory_order_relaxed);
      if (failed == kTimedOut)
        throw TimeoutError("shm " + what +
                           " failed: a peer rank timed out first (a rank is stuck)");
      if (failed != 0) throw CommError("shm " + what + " failed: a peer rank gave up first");
      if (spin < kSpinsBeforeSleep) continue;
      if (Clock::now() > deadline) {
        fail(kTimedOut);
        throw TimeoutError("shm " + what + " timed out after " +
                           std::to_string(options_.timeout.count()) + " ms on rank " +
                           std::to_string(rank_) + " (a peer rank is stuck or gone)");
      }
      const timespec slice{0, kSleepSliceNs};
      futex(&c->generation, FUTEX_WAIT, generation, &slice);
    }
  }

  // Marks the group failed (unless it already is: the first reason stays) and wakes every waiter.
  void fail(uint32_t why = kLeft) {
    Control* c = control();
    uint32_t none = 0;
    c->failed.compare_exchange_strong(none, why, std::memory_order_relaxed);
    futex(&c->generation, FUTEX_WAKE, INT_MAX, nullptr);
  }

  std::unique_ptr<Segment> segment_;
  const int rank_;
  const int size_;
  const ShmOptions options_;
  CollectiveQueue queue_;  // last: its worker stops before the segment goes
};

std::string uniqueSegmentName() {
  std::random_device device;
  char name[64];
  std::snprintf(name, sizeof(name), "/trainrun-%d-%08x", static_cast<int>(::getpid()), device());
  return name;
}

}  // namespace

std::unique_ptr<Communicator> makeShmCommunicator(Store& store, const std::string& prefix, int rank,
                                                  int size, ShmOptions options) {
  if (options.timeout.count() <= 0) options.timeout = store.timeout();
  if (options.slot_bytes == 0) {
    // Keep the segment within 32 MiB: Docker gives a container 64 MiB of /dev/shm by default.
    const size_t fair_share = (size_t{32} << 20) / static_cast<size_t>(size + 1);
    options.slot_bytes = std::max<size_t>(
        size_t{64} << 10, std::min(ShmOptions::kMaxSlotBytes, fair_share & ~size_t{63}));
  }
  if (options.slot_bytes < 64 || options.slot_bytes % 64 != 0)
    throw ConfigError("shm slot size must be a positive multiple of 64 bytes");
  const size_t bytes = kControlBytes + static_cast<size_t>(size + 1) * options.slot_bytes;
  const std::string key = prefix + "shm_segment";
  std::unique_ptr<Segment> segment;
  if (rank == 0) {
    const std::string name = uniqueSegmentName();
    segment = std::make_unique<Segment>(name, bytes, /*create=*/true);
    store.set(key, name);
  } else {
    segment = std::make_unique<Segment>(store.get(key, options.timeout), bytes, /*create=*/false);
  }
  Segment* raw = segment.get();
  auto comm = std::make_unique<ShmCommunicator>(std::move(segment), rank, size, options);
  comm->join();
  raw->unlink();  // every rank has it mapped
  return comm;
}

}  // namespace trainrun
