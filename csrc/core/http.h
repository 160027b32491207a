// One HTTP request over libcurl, bounded by its timeouts: what etcd, IMDS and STS callers share.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace trainrun::http {

struct Request {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // sent as the request body when not empty
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds total_timeout{10000};
  // false: no proxy (link-local metadata services and cluster-local etcd must never see one).
  bool use_proxy = true;
  // https: the CA bundle (PEM) that verifies the server ("": the system's), and a client
  // certificate and its private key (PEM) for a server that asks for one.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

struct Response {
  std::string error;   // the transport's failure ("Couldn't connect to server"); "" if answered
  std::string detail;  // libcurl's longer text for it (host, port, errno) when it has one
  long status = 0;     // the HTTP status when error is ""
  std::string body;
  bool tls = false;          // the failure is TLS's: the handshake, a certificate, a key
  bool empty_reply = false;  // the server closed the connection without a word
  bool answered() const { return error.empty(); }
};

// A connection that later requests reuse (keep-alive); one thread at a time.
class Client {
 public:
  Client();
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Never throws for transport failures: they are in the response.
  Response perform(const Request& request);

 private:
  void* curl_;
};

// One request on a connection of its own.
Response perform(const Request& request);

// RFC 3986 percent-encoding of everything but A-Z a-z 0-9 - . _ ~ (form and query values),
// and '/' when `keep_slash` (S3 object keys in a path).
std::string escape(const std::string& text, bool keep_slash = false);

}  // namespace trainrun::http
