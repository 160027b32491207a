// fork/exec with setpgid, PDEATHSIG and fd hygiene; only async-signal-safe calls after fork.
#include "launch/process.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "core/env.h"
#include "core/error.h"

namespace trainrun::launch {
namespace {

// Resolves a bare command name against $PATH as execvp would, but in the parent: execvp may
// allocate, which is unsafe after fork in a multi-threaded process.
std::string resolveCommand(const std::string& name) {
  const std::string path = env::findOnPath(name);
  return path.empty() ? name : path;  // exec fails with ENOENT; the child reports it
}

std::vector<char*> cStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

void writeAllRaw(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n <= 0) return;
    data += n;
    size -= static_cast<size_t>(n);
  }
}

[[noreturn]] void childMain(pid_t parent, int out_w, int err_w, const char* path, char** argv,
                            char** envp, const sigset_t* empty_mask, int max_fd,
                            const std::string* not_found_msg, const std::string* failed_msg) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) _exit(1);  // the launcher died before prctl took effect
  ::dup2(out_w, STDOUT_FILENO);
  ::dup2(err_w, STDERR_FILENO);
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
  {
    for (int fd = 3; fd < max_fd; ++fd) ::close(fd);
  }
  ::signal(SIGPIPE, SIG_DFL);
  ::sigprocmask(SIG_SETMASK, empty_mask, nullptr);
  ::execve(path, argv, envp);
  const std::string* msg = errno == ENOENT ? not_found_msg : failed_msg;
  writeAllRaw(STDERR_FILENO, msg->data(), msg->size());
  _exit(127);
}

// Forks and execs with the child's stdout on out_w and stderr on err_w; returns its pid.
// The caller closes its own copies of the two fds.
pid_t spawnWithOutputs(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                       int out_w, int err_w) {
  if (argv.empty()) throw Error("spawn: empty command");
  // Everything the child touches is prepared here, before fork.
  const std::string path = resolveCommand(argv[0]);
  const std::string not_found_msg = "trainrun: cannot run '" + argv[0] + "': command not found\n";
  const std::string failed_msg =
      "trainrun: cannot run '" + argv[0] + "': exec failed (permission or format)\n";
  std::vector<char*> c_argv = cStrings(argv);
  std::vector<char*> c_env = cStrings(env);
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  struct rlimit rl;
  int max_fd = (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
                   ? static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 16))
                   : 1 << 16;
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    childMain(parent, out_w, err_w, path.c_str(), c_argv.data(), c_env.data(), &empty_mask, max_fd,
              &not_found_msg, &failed_msg);
  }
  if (pid < 0) throw Error(std::string("fork failed: ") + std::strerror(errno));
  // Also set here so the group exists before we might signal it (the child may not have run).
  ::setpgid(pid, pid);
  return pid;
}

}  // namespace

ChildProcess spawnInOwnGroup(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    int saved = errno;
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw Error(std::string("pipe: ") + std::strerror(saved));
  }
  pid_t pid = -1;
  try {
    pid = spawnWithOutputs(argv, env, out_pipe[1], err_pipe[1]);
  } catch (...) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    throw;
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  return ChildProcess{pid, out_pipe[0], err_pipe[0]};
}

ChildProcess spawnInOwnGroup(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env, int output_fd) {
  return ChildProcess{spawnWithOutputs(argv, env, output_fd, output_fd), -1, -1};
}

void signalGroup(pid_t pgid, int sig) {
  if (pgid > 0) ::kill(-pgid, sig);
}

}  // namespace trainrun::launch
