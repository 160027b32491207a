// core/http.h against a one-connection HTTP server on loopback: status, body, method, headers,
// keep-alive reuse, a refused connection, a silent server bounded by the timeout, escaping.
#include "core/http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace trainrun {
namespace {

// Listens on 127.0.0.1 (a free port); serve() answers `replies` requests on one connection with
// `status` and the request's first line plus headers as the body, or stays silent.
class TinyServer {
 public:
  TinyServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~TinyServer() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int connections() const { return connections_; }

  void serve(int replies, int status, bool silent = false) {
    thread_ = std::thread([this, replies, status, silent] {
      int done = 0;
      while (done < replies) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        ++connections_;
        std::string buffer;
        while (done < replies) {
          std::string request;
          if (!takeRequest(buffer, request)) {
            char chunk[4096];
            const ssize_t n = ::read(c, chunk, sizeof(chunk));
            if (n <= 0) break;
            buffer.append(chunk, static_cast<size_t>(n));
            continue;
          }
          ++done;
          if (silent) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1500));
            break;
          }
          const std::string reply = "HTTP/1.1 " + std::to_string(status) +
                                    " X\r\nContent-Length: " + std::to_string(request.size()) +
                                    "\r\n\r\n" + request;
          (void)!::write(c, reply.data(), reply.size());
        }
        ::close(c);
      }
    });
  }

 private:
  // Moves one whole request out of `buffer` into `request` as "<head>\n<body>"; false if the
  // buffer does not hold one yet.
  static bool takeRequest(std::string& buffer, std::string& request) {
    const size_t end = buffer.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    const std::string head = buffer.substr(0, end);
    const size_t cl = head.find("Content-Length: ");
    const size_t length = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
    if (buffer.size() < end + 4 + length) return false;
    request = head + "\n" + buffer.substr(end + 4, length);
    buffer.erase(0, end + 4 + length);
    return true;
  }

  int fd_ = -1;
  int port_ = 0;
  int connections_ = 0;
  std::thread thread_;
};

TEST(Http, PostsTheBodyWithItsHeadersAndReturnsStatusAndBody) {
  TinyServer server;
  server.serve(1, 201);
  http::Request request;
  request.method = "POST";
  request.url = server.url("/v3/kv/put");
  request.headers = {"Content-Type: application/json", "X-Test: yes"};
  request.body = "{\"key\":\"a b\"}";
  const http::Response answer = http::perform(request);
  ASSERT_TRUE(answer.answered()) << answer.detail;
  EXPECT_EQ(answer.status, 201);
  EXPECT_EQ(answer.body.rfind("POST /v3/kv/put HTTP/1.1", 0), 0u) << answer.body;
  EXPECT_NE(answer.body.find("X-Test: yes"), std::string::npos) << answer.body;
  EXPECT_NE(answer.body.find("\n{\"key\":\"a b\"}"), std::string::npos) << answer.body;
}

TEST(Http, PutWithoutBodyAndGetUseTheirMethodsOnOneKeptConnection) {
  TinyServer server;
  server.serve(2, 200);
  http::Client client;
  http::Request put;
  put.method = "PUT";
  put.url = server.url("/latest/api/token");
  const http::Response a = client.perform(put);
  http::Request get;
  get.url = server.url("/latest/meta-data");
  const http::Response b = client.perform(get);
  ASSERT_TRUE(a.answered() && b.answered()) << a.detail << b.detail;
  EXPECT_EQ(a.body.rfind("PUT /latest/api/token ", 0), 0u) << a.body;
  EXPECT_EQ(b.body.rfind("GET /latest/meta-data ", 0), 0u) << b.body;
  EXPECT_EQ(server.connections(), 1);
}

TEST(Http, ARefusedConnectionIsInTheResponseNotThrown) {
  int port = 0;
  {
    TinyServer closed;  // a port that was free a moment ago and has no listener now
    port = std::stoi(closed.url("").substr(17));
  }
  http::Request request;
  request.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  const http::Response answer = http::perform(request);
  EXPECT_FALSE(answer.answered());
  EXPECT_EQ(answer.status, 0);
  EXPECT_EQ(answer.error, "Couldn't connect to server");
  EXPECT_NE(answer.detail.find(std::to_string(port)), std::string::npos) << answer.detail;
}

TEST(Http, ASilentServerIsBoundedByTheTotalTimeout) {
  TinyServer server;
  server.serve(1, 200, /*silent=*/true);
  http::Request request;
  request.url = server.url("/");
  request.total_timeout = std::chrono::milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  const http::Response answer = http::perform(request);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(answer.answered());
  EXPECT_EQ(answer.error, "Timeout was reached");
  EXPECT_LT(took, std::chrono::milliseconds(1400));
}

TEST(Http, EscapeKeepsUnreservedAndEncodesTheRest) {
  EXPECT_EQ(http::escape("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(http::escape("a b&c=d/e:f"), "a%20b%26c%3Dd%2Fe%3Af");
  EXPECT_EQ(http::escape("\xC3\xA9+"), "%C3%A9%2B");
  EXPECT_EQ(http::escape(""), "");
}

}  // namespace
}  // namespace trainrun
