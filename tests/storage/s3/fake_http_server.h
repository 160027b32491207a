// A one-connection-at-a-time HTTP/1.1 server on loopback, scripted by a handler (for tests).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace trainrun::testing {

struct FakeRequest {
  std::string method;
  std::string target;                          // path and query
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct FakeResponse {
  FakeResponse(int status_code = 200, std::string text = "", std::vector<std::string> extra = {})
      : status(status_code), body(std::move(text)), headers(std::move(extra)) {}

  int status;
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  // When set, written to the socket verbatim (status line and headers included) instead of the
  // above, then the connection closes: for bodies cut short or without a Content-Length.
  std::string raw;
};

// A response written as is: `head` is the status line and headers without the blank line.
inline FakeResponse rawResponse(const std::string& head, const std::string& body) {
  FakeResponse r;
  r.raw = head + "\r\nConnection: close\r\n\r\n" + body;
  return r;
}

class FakeHttpServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;

  explicit FakeHttpServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd_, 16) != 0) {
      std::abort();
    }
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }

  ~FakeHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // True once the server is shutting down (handlers that stall poll it).
  bool stopping() const { return stop_; }

  std::vector<FakeRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      FakeRequest request;
      if (readRequest(client, request)) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          requests_.push_back(request);
        }
        FakeResponse response = handler_(request);
        if (!response.raw.empty()) {
          writeAll(client, response.raw);
          ::close(client);
          continue;
        }
        std::string out = "HTTP/1.1 " + std::to_string(response.status) + " X\r\n";
        for (const auto& h : response.headers) out += h + "\r\n";
        out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
        out += "Connection: close\r\n\r\n";
        if (request.method != "HEAD") out += response.body;
        writeAll(client, out);
      }
      ::close(client);
    }
  }

  static void writeAll(int fd, const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  bool readRequest(int fd, FakeRequest& request) {
    std::string data;
    char buf[65536];
    size_t header_end;
    while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return false;
      data.append(buf, static_cast<size_t>(n));
    }
    size_t line_end = data.find("\r\n");
    std::string line = data.substr(0, line_end);
    size_t s1 = line.find(' ');
    size_t s2 = line.find(' ', s1 + 1);
    request.method = line.substr(0, s1);
    request.target = line.substr(s1 + 1, s2 - s1 - 1);
    size_t pos = line_end + 2;
    while (pos < header_end) {
      size_t end = data.find("\r\n", pos);
      std::string h = data.substr(pos, end - pos);
      size_t colon = h.find(':');
      std::string name = h.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(c));
      std::string value = colon == std::string::npos ? "" : h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      request.headers[name] = value;
      pos = end + 2;
    }
    size_t length = 0;
    if (request.headers.count("content-length")) {
      length = std::stoul(request.headers["content-length"]);
    }
    request.body = data.substr(header_end + 4);
    while (request.body.size() < length) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return false;
      request.body.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<FakeRequest> requests_;
};

}  // namespace trainrun::testing
